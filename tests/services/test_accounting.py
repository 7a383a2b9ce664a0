"""aglidein.services.accounting: glidein time by (group, entry) from records and the user log, each glidein once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aglidein.clock import ManualClock
from aglidein.condor.userlog import JobEnd
from aglidein.core.model import Glidein, GlideinCensus, GlideinState
from aglidein.services.accounting import UNKNOWN_GROUP, Accounting
from aglidein.store.api import GlideinUsage
from aglidein.store.userjobs import UserJob
from tests.adapter_helpers import make_config, make_runtime

T0 = 1_800_000_000.0


def _glidein(n: int) -> Glidein:
    return Glidein(
        glidein_id=f"g{n}",
        entry="CE1",
        group="cms",
        batch="b",
        cluster=100 + n,
        proc=0,
        state=GlideinState.RUNNING,
        entered_state=T0,
        queued=T0 - 50,
        job_start=T0,
    )


class FakeStore:
    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.jobs: dict[str, list[UserJob]] = {}

    def ended_glideins(self, names: list[str]) -> set[str]:
        return self.ended & set(names)

    async def user_jobs(self, glidein: str) -> list[UserJob] | None:
        return self.jobs.get(glidein)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Any]:
    runtime = make_runtime(make_config(tmp_path), ManualClock(T0 + 1000))
    yield runtime
    runtime.state.close()


def _sample(runtime: Any, name: str, group: str, entry: str = "CE1") -> float:
    value = runtime.metrics.registry.get_sample_value(name, {"group": group, "entry": entry})
    return value or 0.0


def _row(runtime: Any, group: str, entry: str = "CE1") -> tuple[float, float, float, int]:
    row = runtime.status.accounting.row(group, entry)
    return (row.glidein_seconds, row.job_seconds, row.badput_seconds, row.validation_failures)


def test_records_count_by_the_roster_group_and_unknown_otherwise(runtime: Any) -> None:
    runtime.roster.observe(GlideinCensus(glideins=(_glidein(1),)), now=T0)
    accounting = Accounting(runtime)
    assert runtime.status.accounting is None
    accounting.record(
        [
            GlideinUsage("g1", "CE1", job_seconds=300.0),
            GlideinUsage(
                "g1",
                "CE1",
                glidein_seconds=1000.0,
                busy_seconds=400.0,
                ended=True,
                validation_failed=False,
            ),
            GlideinUsage("gX", "CE2", glidein_seconds=60.0, ended=True, validation_failed=True),
        ]
    )
    assert accounting.totals.since == runtime.status.started
    assert _row(runtime, "cms") == (1000.0, 300.0, 600.0, 0)
    assert _row(runtime, UNKNOWN_GROUP, "CE2") == (60.0, 0.0, 60.0, 1)
    assert _sample(runtime, "aglidein_glidein_seconds_total", "cms") == 1000.0
    assert _sample(runtime, "aglidein_user_job_seconds_total", "cms") == 300.0
    assert _sample(runtime, "aglidein_glidein_badput_seconds_total", "cms") == 600.0
    assert _sample(runtime, "aglidein_glidein_validation_failures_total", "unknown", "CE2") == 1.0


async def test_a_glidein_whose_end_never_reached_the_store_is_counted_from_the_user_log(
    runtime: Any,
) -> None:
    runtime.roster.observe(GlideinCensus(glideins=(_glidein(1), _glidein(2))), now=T0)
    runtime.roster.observe(GlideinCensus(), now=T0 + 900)  # both left the queue
    store = FakeStore()
    store.ended = {"g2"}  # its glidein.end was stored: the records count it
    store.jobs["g1"] = [
        UserJob("1.0", 1, 0, "s", start=T0 + 100, end=T0 + 300),
        UserJob("2.0", 2, 0, "s", start=T0 + 200, end=None),  # still running at the end
        UserJob("3.0", 3, 0, "s"),  # never started
    ]
    accounting = Accounting(runtime, lambda: store)  # type: ignore[arg-type,return-value]
    accounting.queue_ends(
        [
            JobEnd(101, 0, exit_code=10, signal=None),
            JobEnd(102, 0, exit_code=0, signal=None),
            JobEnd(999, 0, exit_code=0, signal=None),  # not a glidein the roster knows
        ]
    )
    assert runtime.status.accounting is None  # nothing counted before settling
    assert await accounting.settle_queue_ends() == 1
    # wall: queue start to end (900 s); busy: 100..900 covered by jobs (800 s)
    assert _row(runtime, "cms") == (900.0, 0.0, 100.0, 1)
    assert await accounting.settle_queue_ends() == 0  # nothing left pending
    # its glidein.end arriving late adds the job time only: the wall is not counted twice
    accounting.record(
        [GlideinUsage("g1", "CE1", 50.0, 900.0, 800.0, ended=True, validation_failed=True)]
    )
    assert _row(runtime, "cms") == (900.0, 50.0, 100.0, 1)
    assert _sample(runtime, "aglidein_glidein_seconds_total", "cms") == 900.0
    assert _sample(runtime, "aglidein_glidein_validation_failures_total", "cms") == 1.0
    # the same end noted again is not counted again
    accounting.queue_ends([JobEnd(101, 0, exit_code=10, signal=None)])
    assert await accounting.settle_queue_ends() == 0


async def test_without_a_store_nothing_is_settled(runtime: Any) -> None:
    runtime.roster.observe(GlideinCensus(glideins=(_glidein(1),)), now=T0)
    accounting = Accounting(runtime)
    accounting.queue_ends([JobEnd(101, 0, exit_code=0, signal=None)])
    assert await accounting.settle_queue_ends() == 0
    assert runtime.status.accounting is None
