"""The same assertions against the simulated pool and, opt-in, a real pool.

Set AGLIDEIN_TEST_POOL=host:port (a collector whose first schedd accepts your jobs) to
run them against the htcondor2 bindings too; the jobs are submitted on hold and removed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aglidein.clock import ManualClock
from aglidein.condor.api import JobAction, Pool, Schedd, SubmitDescription
from aglidein.condor.bindings import BindingsPool
from aglidein.condor.fake import FakePool, Scenario
from tests.adapter_helpers import make_config

REAL_POOL = os.environ.get("AGLIDEIN_TEST_POOL")
IMPLEMENTATIONS = [
    "fake",
    pytest.param(
        "bindings",
        marks=[
            pytest.mark.pool,
            pytest.mark.skipif(not REAL_POOL, reason="set AGLIDEIN_TEST_POOL=host:port"),
        ],
    ),
]


@pytest.fixture(params=IMPLEMENTATIONS)
async def pool_and_schedd(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Pool, Schedd]]:
    if request.param == "fake":
        fake = FakePool(Scenario(), clock=ManualClock())
        yield fake, fake.schedd("local")
        await fake.aclose()
        return
    config = make_config(tmp_path, pool={"collector": str(REAL_POOL)})
    real = BindingsPool(lambda: config)
    (first, *_) = await real.collector().locate_schedds()
    yield real, real.schedd(first)
    await real.aclose()


def _held_cluster(tag: str) -> SubmitDescription:
    return SubmitDescription(
        commands=(
            ("universe", "vanilla"),
            ("executable", "/bin/true"),
            ("hold", "true"),
            ("+AglideinFactory", f'"{tag}"'),
            ("+AglideinId", '"$(AglideinId)"'),
        ),
        queue_vars=("AglideinId",),
        itemdata=({"AglideinId": "g-1"}, {"AglideinId": "g-2"}),
    )


async def test_submit_query_edit_and_remove(pool_and_schedd: tuple[Pool, Schedd]) -> None:
    pool, schedd = pool_and_schedd
    tag = f"contract-{uuid.uuid4().hex[:8]}"
    constraint = f'AglideinFactory == "{tag}"'
    result = await schedd.submit(_held_cluster(tag))
    assert result.count == 2
    ads = await schedd.query(constraint, ["ClusterId", "ProcId", "AglideinId", "JobStatus"])
    assert sorted(str(a["AglideinId"]) for a in ads) == ["g-1", "g-2"]
    assert {a["ClusterId"] for a in ads} == {result.cluster}
    assert {a["JobStatus"] for a in ads} == {5}
    assert sorted(f"{a['ClusterId']}.{a['ProcId']}" for a in ads) == sorted(result.job_ids)
    (cluster,) = await schedd.query_autoclusters(constraint, ["AglideinFactory"])
    assert cluster["JobCount"] == 2
    assert await schedd.edit(list(result.job_ids), "AglideinContract", "42") == 2
    assert len(await schedd.query(f"{constraint} && AglideinContract == 42")) == 2
    removed = await schedd.act(JobAction.REMOVE, list(result.job_ids), reason="contract test")
    assert removed.success == 2
    await schedd.act(JobAction.REMOVE_X, list(result.job_ids))
    left = await schedd.query(f"{constraint} && JobStatus != 3")
    assert left == []
    assert await pool.collector().query_startds("false") == []


async def test_unknown_jobs_are_reported_not_found(pool_and_schedd: tuple[Pool, Schedd]) -> None:
    _, schedd = pool_and_schedd
    result = await schedd.act(JobAction.RELEASE, ["999999.0"])
    assert result.success == 0
    assert result.not_found + result.failure == 1
