"""The poller against a small in-test pool: concurrent schedd queries with projection,
stale demand kept then aged, census from the collector and factory schedd, deadlines,
and failures that never stop the cycle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from aglidein.classad.facade import parse_expr
from aglidein.clock import ManualClock
from aglidein.condor.api import Ad, ScheddLocation
from aglidein.config import Config
from aglidein.core.model import GlideinState, SlotActivity
from aglidein.errors import CondorError
from aglidein.services.metrics import Metrics
from aglidein.services.poller import Poller


def _matches(constraint: str, ad: Ad) -> bool:
    return parse_expr(constraint).evaluate(dict(ad), {}) is True


class FakeSchedd:
    def __init__(self, name: str, jobs: list[dict[str, Any]]) -> None:
        self.name = name
        self.jobs = jobs
        self.down = False
        self.hang = False
        self.queries: list[tuple[str, tuple[str, ...]]] = []

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        self.queries.append((constraint, tuple(projection)))
        if self.hang:
            await anyio.sleep(3600)
        if self.down:
            raise CondorError(f"{self.name}: connection refused")
        wanted = {p.lower() for p in projection}
        return [
            {k: v for k, v in job.items() if not wanted or k.lower() in wanted}
            for job in self.jobs
            if _matches(constraint, job)
        ]


class FakeCollector:
    def __init__(self, pool: FakePool) -> None:
        self.pool = pool

    async def query_startds(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        if self.pool.collector_down:
            raise CondorError("collector down")
        return [s for s in self.pool.startds if _matches(constraint, s)]

    async def locate_schedds(self, names: Sequence[str] = ()) -> list[ScheddLocation]:
        if self.pool.collector_down:
            raise CondorError("collector down")
        return [ScheddLocation(n, f"<{n}:9618>") for n in self.pool.schedds if n != "factory"]


class FakePool:
    def __init__(self) -> None:
        self.schedds: dict[str, FakeSchedd] = {}
        self.startds: list[dict[str, Any]] = []
        self.collector_down = False

    def collector(self) -> FakeCollector:
        return FakeCollector(self)

    def schedd(self, location: str | ScheddLocation) -> FakeSchedd:
        name = location.name if isinstance(location, ScheddLocation) else location
        if name not in self.schedds:
            raise CondorError(f"no schedd {name}")
        return self.schedds[name]

    async def aclose(self) -> None:
        return None


def job(sites: str, status: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "JobStatus": status,
        "DESIRED_Sites": sites,
        "RequestCpus": 1,
        "Owner": "u",
        "JobUniverse": 5,
        **extra,
    }


def make_config(schedds: list[str]) -> Config:
    return Config.model_validate(
        {
            "factory": {
                "name": "f1",
                "state_dir": "/tmp/x",
                "deadlines": {"schedd_query": "1s", "collector_query": "1s"},
            },
            "pool": {
                "collector": "cm:9618",
                "trust_domain": "cm",
                "signing_key": "/k/POOL",
                "factory_schedd": "factory",
            },
            "groups": [
                {
                    "name": "main",
                    "schedds": schedds,
                    "job_constraint": "JobUniverse == 5",
                    "match": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
                }
            ],
            "entries": [{"name": "CE_A", "gridtype": "local", "attrs": {"GLIDEIN_Site": "A"}}],
        }
    )


@pytest.fixture
def pool() -> FakePool:
    pool = FakePool()
    pool.schedds["s1"] = FakeSchedd("s1", [job("A")] * 3 + [job("A", 2), job("B")])
    pool.schedds["s2"] = FakeSchedd("s2", [job("A, B")] * 2)
    pool.schedds["factory"] = FakeSchedd(
        "factory",
        [
            {
                "AglideinFactory": "f1",
                "AglideinId": "g1",
                "AglideinEntry": "CE_A",
                "AglideinGroup": "main",
                "ClusterId": 10,
                "ProcId": 0,
                "JobStatus": 2,
                "QDate": 5,
            },
            {
                "AglideinFactory": "f1",
                "AglideinId": "g2",
                "AglideinEntry": "CE_A",
                "AglideinGroup": "main",
                "ClusterId": 10,
                "ProcId": 1,
                "JobStatus": 1,
                "QDate": 6,
            },
            {
                "AglideinFactory": "other",
                "AglideinId": "x",
                "AglideinEntry": "CE_A",
                "ClusterId": 11,
                "ProcId": 0,
                "JobStatus": 1,
            },
        ],
    )
    pool.startds = [
        {
            "Name": "slot1@g1",
            "AglideinFactory": "f1",
            "AglideinId": "g1",
            "AglideinEntry": "CE_A",
            "AglideinGroup": "main",
            "State": "Claimed",
            "Activity": "Busy",
        },
        {
            "Name": "slot2@g1",
            "AglideinFactory": "f1",
            "AglideinId": "g1",
            "AglideinEntry": "CE_A",
            "AglideinGroup": "main",
            "State": "Claimed",
            "Activity": "Retiring",
        },
        {
            "Name": "slot3@g1",
            "AglideinFactory": "f1",
            "AglideinId": "g1",
            "AglideinEntry": "CE_A",
            "AglideinGroup": "main",
            "State": "Unclaimed",
            "Activity": "Idle",
            "GLIDEIN_BLACKHOLEValue": 1,
        },
    ]
    return pool


def poller_for(config: Config, pool: FakePool) -> tuple[Poller, Metrics]:
    metrics = Metrics()
    return Poller(lambda: config, pool, metrics, ManualClock()), metrics


def idle_by_sites(snapshot: Any, schedd: str) -> dict[str, int]:
    (row,) = [r for r in snapshot.schedds if r.schedd == schedd]
    return {dict(s.shape.attrs)["desired_sites"]: s.idle for s in row.shapes}


async def test_demand_and_census_from_every_source(pool: FakePool) -> None:
    poller, metrics = poller_for(make_config(["s1", "s2"]), pool)
    demand, census = await poller.poll(1)
    assert idle_by_sites(demand, "s1") == {"A": 3, "B": 1}
    assert idle_by_sites(demand, "s2") == {"A, B": 2}
    running = [s.running for r in demand.schedds for s in r.shapes if s.running]
    assert running == [1]
    constraint, projection = pool.schedds["s1"].queries[0]
    assert "JobUniverse == 5" in constraint
    assert {"DESIRED_Sites", "JobStatus", "JobUniverse", "RequestCpus"} <= set(projection)
    assert "Owner" not in projection
    assert sorted(g.glidein_id for g in census.glideins) == ["g1", "g2"]
    assert {g.glidein_id: g.state for g in census.glideins}["g2"] is GlideinState.IDLE
    assert [s.activity for s in census.slots] == [
        SlotActivity.BUSY,
        SlotActivity.RETIRING,
        SlotActivity.BLACK_HOLE,
    ]
    assert census.factory_ok
    assert census.collector_ok
    assert poller.failures == ()
    text = metrics.render().decode()
    assert 'aglidein_glideins{entry="CE_A",state="idle"} 1.0' in text
    assert "aglidein_collector_up 1.0" in text
    assert 'aglidein_schedd_query_duration_seconds_count{schedd="s1"} 1.0' in text


async def test_a_failing_schedd_keeps_its_last_demand_marked_stale(pool: FakePool) -> None:
    poller, metrics = poller_for(make_config(["s1", "s2"]), pool)
    await poller.poll(1)
    pool.schedds["s1"].down = True
    for cycle in (2, 3, 4, 5):
        demand, census = await poller.poll(cycle)
        (row,) = [r for r in demand.schedds if r.schedd == "s1"]
        assert not row.ok
        assert row.stale_cycles == cycle - 1
        assert idle_by_sites(demand, "s1") == {"A": 3, "B": 1}
        assert "connection refused" in (row.last_error or "")
        assert idle_by_sites(demand, "s2") == {"A, B": 2}
        assert census.factory_ok
        assert census.collector_ok
    assert [f.source for f in poller.failures] == ["schedd s1"]
    text = metrics.render().decode()
    assert 'aglidein_schedd_stale_cycles{schedd="s1"} 4.0' in text
    assert 'aglidein_schedd_query_failures_total{reason="error",schedd="s1"} 4.0' in text
    pool.schedds["s1"].down = False
    demand, _ = await poller.poll(6)
    (row,) = [r for r in demand.schedds if r.schedd == "s1"]
    assert row.ok
    assert row.stale_cycles == 0


async def test_a_hanging_schedd_times_out_within_its_deadline(pool: FakePool) -> None:
    poller, _ = poller_for(make_config(["s1", "s2"]), pool)
    pool.schedds["s2"].hang = True
    with anyio.fail_after(10):
        demand, _ = await poller.poll(1)
    (row,) = [r for r in demand.schedds if r.schedd == "s2"]
    assert not row.ok
    assert row.stale_cycles == 1
    assert "no answer within 1s" in (row.last_error or "")
    assert idle_by_sites(demand, "s1") == {"A": 3, "B": 1}


async def test_collector_and_factory_outages_are_reported_not_fatal(pool: FakePool) -> None:
    poller, metrics = poller_for(make_config(["collector"]), pool)
    demand, census = await poller.poll(1)
    assert {r.schedd for r in demand.schedds} == {"s1", "s2"}
    pool.collector_down = True
    pool.schedds["factory"].down = True
    demand, census = await poller.poll(2)
    assert not census.collector_ok
    assert not census.factory_ok
    assert census.glideins == ()
    assert census.slots == ()
    assert {r.schedd for r in demand.schedds} == {"s1", "s2"}  # kept, stale
    assert all(r.stale_cycles == 1 for r in demand.schedds)
    sources = {f.source for f in poller.failures}
    assert sources == {"collector", "factory schedd factory"}
    text = metrics.render().decode()
    assert "aglidein_collector_up 0.0" in text
    assert 'aglidein_factory_schedd_up{schedd="factory"} 0.0' in text


async def test_expression_valued_attributes_widen_the_projection(pool: FakePool) -> None:
    pool.schedds["s1"].jobs = [
        job("A", RequestMemory=parse_expr("ImageSize / 1024"), ImageSize=4096),
    ]
    config = make_config(["s1"]).model_copy()
    config = config.model_copy(
        update={
            "groups": [
                config.groups[0].model_copy(
                    update={
                        "match": "MY.RequestMemory >= 4 && stringListMember(TARGET.GLIDEIN_Site, "
                        "MY.DESIRED_Sites)"
                    }
                )
            ]
        }
    )
    poller, _ = poller_for(config, pool)
    await poller.poll(1)
    demand, _ = await poller.poll(2)
    _, projection = pool.schedds["s1"].queries[-1]
    assert "imagesize" in {p.lower() for p in projection}
    (row,) = [r for r in demand.schedds if r.schedd == "s1"]
    (shape,) = row.shapes
    assert dict(shape.shape.attrs)["requestmemory"] == 4
    assert shape.shape.request_memory == 4
