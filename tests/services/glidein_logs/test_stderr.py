"""Glideins that end without posting a record leave their stderr in the log store; glidein
output files go with the log retention (DESIGN §6)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from aglidein.clock import ManualClock
from aglidein.condor.fake import FakePool, Scenario
from aglidein.config import LogsConfig
from aglidein.core.model import Glidein, GlideinCensus, GlideinState
from aglidein.core.records import parse_batch
from aglidein.core.stderr import STDERR_SEQ_BASE
from aglidein.services.cycle import CycleService
from aglidein.services.cycle_setup import build_cycle, token_writer
from aglidein.services.glidein_files import PilotKit
from aglidein.services.glidein_logs.stderr import OutputFiles
from aglidein.store.api import LogQuery
from aglidein.store.sqlite import SqliteLogStore
from tests.adapter_helpers import make_config, make_runtime, placeholder_pilot
from tests.service_helpers import running
from tests.services.glidein_logs.helpers import ndjson

DAY = 86400.0


@asynccontextmanager
async def running_store(path: Path) -> AsyncIterator[SqliteLogStore]:
    async with running(SqliteLogStore(path / "logs.db", LogsConfig)) as store:
        yield store


@asynccontextmanager
async def cycle_with_store(
    tmp_path: Path, entries: dict[str, Any], scenario: dict[str, Any], pilot: Path
) -> AsyncIterator[tuple[CycleService, FakePool, SqliteLogStore, ManualClock]]:
    """The production cycle on a simulated pool, with a log store for stderr records."""
    config = make_config(
        tmp_path,
        entries,
        factory={"cycle": "5m"},
        groups=[{"name": "main", "schedds": ["schedd1"], "match": "true"}],
    )
    clock = ManualClock()
    pool = FakePool(Scenario.model_validate(scenario), clock=clock)
    runtime = make_runtime(config, clock)
    state_dir = Path(config.factory.state_dir)
    async with running_store(tmp_path) as store:

        async def reported() -> set[str]:
            return store.posted_glideins()

        cycle, _ = build_cycle(
            runtime,
            pool=pool,
            kit=PilotKit(state_dir, pilot),
            tokens=token_writer(state_dir),
            reported=reported,
            ingest=store.ingest,
        )
        try:
            yield cycle, pool, store, clock
        finally:
            await pool.aclose()
    runtime.state.close()


def outputs_for(root: Path, store: SqliteLogStore, logs: LogsConfig | None = None) -> OutputFiles:
    async def reported() -> set[str]:
        return store.posted_glideins()

    return OutputFiles(root, store.ingest, reported, lambda: logs or LogsConfig())


def glidein(glidein_id: str, entry: str) -> Glidein:
    return Glidein(glidein_id, entry, "main", "b", 1, 0, GlideinState.RUNNING, 0.0, 0.0)


def write(path: Path, text: bytes, *, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    if age:
        when = time.time() - age
        os.utime(path, (when, when))
    return path


async def records_of(store: SqliteLogStore, glidein_id: str) -> list[dict[str, object]]:
    return (await store.search(LogQuery(glidein=glidein_id, limit=10_000))).records


async def test_only_gone_glideins_that_never_posted_get_their_stderr_stored(
    tmp_path: Path,
) -> None:
    root = tmp_path / "glideins"
    write(root / "CE1" / "gone.err", b"setting up\nfatal: cannot reach the collector\n")
    write(root / "CE1" / "gone.out", b"some stdout\n")
    write(root / "CE1" / "running.err", b"still going\n")
    write(root / "CE2" / "posted.err", b"noise\n")
    write(root / "CE2" / "big.err", b"".join(b"line %06d\n" % n for n in range(20_000)))
    write(root / "CE2" / "last-week.err", b"ended while the factory was down\n", age=7 * DAY)
    async with running_store(tmp_path) as store:
        await store.ingest(
            "posted", "CE2", parse_batch(ndjson([1, 2]), max_fields=64, max_bytes=9999)
        )
        outputs = outputs_for(root, store)
        census = GlideinCensus(glideins=(glidein("running", "CE1"),))
        assert await outputs.collect(census) == 2
        rows = await records_of(store, "gone")
        assert [r["msg"] for r in rows] == ["setting up", "fatal: cannot reach the collector"]
        assert [r["level"] for r in rows] == ["warning", "error"]
        assert {r["event"] for r in rows} == {"glidein.stderr"}
        assert {r["entry"] for r in rows} == {"CE1"}
        assert all(int(str(r["seq"])) >= STDERR_SEQ_BASE for r in rows)
        assert await records_of(store, "running") == []
        assert [r["msg"] for r in await records_of(store, "posted")] == ["step 1", "step 2"]
        assert await records_of(store, "last-week") == []  # older than a day: not judged
        big = await records_of(store, "big")
        assert big[-1]["msg"] == "line 019999"
        assert sum(len(str(r["msg"])) + 1 for r in big) <= 64 * 1024 + 8  # the last 64 KiB
        assert str(big[0]["msg"]).startswith("…")
        # a late post by the pilot does not clash with the stored stderr
        late = await store.ingest(
            "gone", "CE1", parse_batch(ndjson([1]), max_fields=64, max_bytes=9999)
        )
        assert (late.accepted, late.duplicates) == (1, 0)
        # stored once: the glidein now has records
        assert await outputs.collect(census) == 0
        assert len(await records_of(store, "gone")) == 3
        # once it has left the queue, the running one's turn
        assert await outputs.collect(GlideinCensus()) == 1
        assert [r["msg"] for r in await records_of(store, "running")] == ["still going"]
        # a census the factory schedd did not answer says nothing about who is gone
        write(root / "CE1" / "another.err", b"oops\n")
        assert await outputs.collect(GlideinCensus(factory_ok=False)) == 0
        assert await records_of(store, "another") == []


async def test_output_files_older_than_the_log_retention_are_deleted(tmp_path: Path) -> None:
    root = tmp_path / "glideins"
    old = [
        write(root / "CE1" / "a.out", b"x", age=11 * DAY),
        write(root / "CE1" / "a.err", b"x", age=11 * DAY),
        write(root / "CE2" / "b.err", b"x", age=30 * DAY),
    ]
    kept = [
        write(root / "CE1" / "c.out", b"x", age=9 * DAY),
        write(root / "CE1" / "c.err", b"x", age=9 * DAY),
        # the user logs: deleted by services.exits, which knows whether they are read
        write(root / "CE1" / "glideins.log", b"x", age=11 * DAY),
        write(root / "CE1" / "glideins-20261101.log", b"x", age=11 * DAY),
        write(root / "CE1" / "attrs", b"x", age=11 * DAY),
        write(root / "CE1" / "tokens" / "c.idtoken", b"x", age=11 * DAY),
    ]
    async with running_store(tmp_path) as store:
        outputs = outputs_for(root, store, LogsConfig(retention=10 * DAY))
        await outputs.collect(GlideinCensus(glideins=(glidein("c", "CE1"),)))
        assert await records_of(store, "a") == []  # expired, not stored
    assert [p.exists() for p in old] == [False, False, False]
    assert all(p.exists() for p in kept)


async def test_a_local_glidein_that_dies_silently_leaves_its_stderr_as_records(
    tmp_path: Path,
) -> None:
    pilot = placeholder_pilot(tmp_path)
    (pilot / "glidein_startup.sh").write_text(
        "#!/bin/sh\necho 'checking the worker node'\n"
        "echo 'validation failed: /cvmfs not mounted' >&2\nexit 10\n"
    )
    entries = {
        "L": {"gridtype": "local", "attrs": {"GLIDEIN_Site": "Here"}, "limits": {"max_glideins": 2}}
    }
    scenario = {
        "schedds": [{"name": "schedd1", "jobs": [{"count": 20}]}],
        "entries": {"default": {"queue_time": 60}},
    }
    async with cycle_with_store(tmp_path, entries, scenario, pilot) as (cycle, pool, store, clock):
        await cycle.run_cycle()
        ids = [str(a["AglideinId"]) for a in await pool.schedd("local").query()]
        assert ids
        clock.advance(300)  # the pilots start, fail and leave the queue
        for _ in range(300):
            if not await pool.schedd("local").query():
                break
            await anyio.sleep(0.1)
        await cycle.run_cycle()
        for glidein_id in ids:
            rows = await records_of(store, glidein_id)
            assert [(r["level"], r["msg"]) for r in rows] == [
                ("error", "validation failed: /cvmfs not mounted")
            ]
            assert rows[0]["entry"] == "L"


async def test_black_hole_glideins_show_up_in_the_logs(tmp_path: Path) -> None:
    """A simulated glidein on a black-hole node ends with exit 12 and posts nothing; the
    stderr it leaves says why, and that reaches the log store."""
    entries = {
        "BH": {
            "gridtype": "condor",
            "gatekeeper": "ce.bh.example.org",
            "auth": {"method": "idtoken"},
            "attrs": {"GLIDEIN_Site": "SiteBH"},
            "limits": {"max_glideins": 3},
        }
    }
    scenario = {
        "schedds": [{"name": "schedd1", "jobs": [{"count": 20}]}],
        "entries": {"BH": {"queue_time": 60, "run_time": 1800, "black_hole": 1.0}},
    }
    pilot = placeholder_pilot(tmp_path)
    async with cycle_with_store(tmp_path, entries, scenario, pilot) as (cycle, pool, store, clock):
        await cycle.run_cycle()
        ids = [str(a["AglideinId"]) for a in await pool.schedd("local").query()]
        assert ids
        clock.advance(3 * 3600)  # they started on black holes and ended with exit 12
        await cycle.run_cycle()
        for glidein_id in ids:
            rows = await records_of(store, glidein_id)
            assert {r["event"] for r in rows} == {"glidein.stderr"}
            assert any(
                r["level"] == "error" and "black-hole protection tripped" in str(r["msg"])
                for r in rows
            ), rows
