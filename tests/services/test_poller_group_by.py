"""The poller asks for demand with one GroupBy ad per shape and gets the same shapes as
the per-job query, on the simulated pool and on a real schedd (tests/realpool); a schedd
that cannot group is asked per job from then on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from aglidein.clock import ManualClock
from aglidein.condor.api import Ad, Collector, Pool, Schedd, ScheddLocation
from aglidein.condor.bindings import BindingsPool
from aglidein.condor.fake import FakePool, Scenario
from aglidein.config import Config
from aglidein.errors import CondorError
from aglidein.services.metrics import Metrics
from aglidein.services.poller import Poller
from tests.adapter_helpers import make_config
from tests.realpool.pool import PoolInstance

# (DESIRED_Sites, RequestCpus, held, count): mixed shapes, some held (not demand)
JOBS = [
    ("SiteA", 1, False, 3),
    ("SiteA", 2, False, 2),
    ("SiteB", 1, False, 4),
    ("SiteB", 1, True, 2),
]


@dataclass
class Source:
    pool: Pool
    schedd: str
    config: Config


class NoGroupBy:
    """A pool whose schedds fail GroupBy queries (as a schedd without them would)."""

    def __init__(self, inner: Pool) -> None:
        self.inner = inner
        self.group_by_calls: list[str] = []
        self.per_job_calls: list[str] = []

    def collector(self) -> Collector:
        return self.inner.collector()

    def schedd(self, location: str | ScheddLocation) -> Schedd:
        return _NoGroupBySchedd(self, self.inner.schedd(location))

    def calls(self, schedd: str) -> tuple[int, int]:
        """(GroupBy, per-job) queries made to `schedd`."""
        return self.group_by_calls.count(schedd), self.per_job_calls.count(schedd)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _NoGroupBySchedd:
    def __init__(self, owner: NoGroupBy, inner: Schedd) -> None:
        self.owner, self.inner, self.name = owner, inner, inner.name

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        self.owner.per_job_calls.append(self.name)
        return await self.inner.query(constraint, projection, limit=limit)

    async def query_autoclusters(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        self.owner.group_by_calls.append(self.name)
        raise CondorError("GroupBy: unknown query option")


def _config(tmp_path: Path, schedd: str, tag: str, **pool: str) -> Config:
    return make_config(
        tmp_path,
        entries={
            "CE_A": {"gridtype": "local", "attrs": {"GLIDEIN_Site": "SiteA"}},
            "CE_B": {"gridtype": "local", "attrs": {"GLIDEIN_Site": "SiteB"}},
        },
        groups=[
            {
                "name": "main",
                "schedds": [schedd],
                "job_constraint": f'AglideinTest == "{tag}"',
                "match": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
            }
        ],
        pool=pool or None,
        factory={"deadlines": {"schedd_query": "60s", "collector_query": "30s"}},
    )


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.pool)])
async def source(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Source]:
    tag = uuid.uuid4().hex[:8]
    if request.param == "fake":
        schedds = [
            {
                "name": "user1",
                "jobs": [
                    {
                        "count": count,
                        "attrs": {
                            "DESIRED_Sites": site,
                            "RequestCpus": cpus,
                            "AglideinTest": tag,
                            "JobStatus": 5 if held else 1,
                        },
                    }
                    for site, cpus, held, count in JOBS
                ],
            }
        ]
        fake = FakePool(Scenario.model_validate({"schedds": schedds}), clock=ManualClock())
        yield Source(fake, "user1", _config(tmp_path, "user1", tag))
        await fake.aclose()
        return
    vo: PoolInstance = request.getfixturevalue("vo_env")
    for site, cpus, held, count in JOBS:
        vo.submit(
            {
                "executable": "/bin/true",
                "requirements": "false",
                "request_cpus": str(cpus),
                "+DESIRED_Sites": f'"{site}"',
                "+AglideinTest": f'"{tag}"',
                "hold": "true" if held else "false",
            },
            count=count,
        )
    config = _config(
        tmp_path, vo.schedd_name, tag, collector=vo.collector, trust_domain=vo.trust_domain
    )
    real = BindingsPool(lambda: config)
    yield Source(real, vo.schedd_name, config)
    vo.run("condor_rm", "-constraint", f'AglideinTest == "{tag}"', check=False)
    await real.aclose()


def _shapes(poller_demand: object) -> list[tuple[object, int, int]]:
    rows = poller_demand.schedds  # type: ignore[attr-defined]
    assert len(rows) == 1, rows
    assert rows[0].ok, rows
    return sorted(((s.shape, s.idle, s.running) for s in rows[0].shapes), key=repr)


async def test_group_by_demand_equals_per_job_demand(source: Source) -> None:
    clock = ManualClock()
    grouped = Poller(lambda: source.config, source.pool, Metrics(), clock)
    per_job_pool = NoGroupBy(source.pool)
    per_job = Poller(lambda: source.config, per_job_pool, Metrics(), clock)
    with structlog.testing.capture_logs() as logs:
        grouped_demand, _ = await grouped.poll(1)
        per_job_demand, _ = await per_job.poll(1)
        again, _ = await per_job.poll(2)
    assert _shapes(grouped_demand) == _shapes(per_job_demand) == _shapes(again)
    idle = sum(idle for _, idle, _ in _shapes(grouped_demand))
    assert idle == 9  # the held jobs are not demand
    assert len(_shapes(grouped_demand)) == 3
    # the schedd that cannot group is asked per job, and only tried once
    assert per_job_pool.calls(source.schedd) == (1, 2)
    assert [e["schedd"] for e in logs if e["event"] == "poll.group_by_failed"] == [source.schedd]
