"""Side-by-side migration: the old GlideinWMS factory's glideins in the collector (real
startd ads of the GlideinWMS unit-test fixture) are counted per entry, live and offline."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from aglidein.clock import ManualClock
from aglidein.config import Config
from aglidein.services.metrics import Metrics
from aglidein.services.poller import Poller
from aglidein.services.poller_ads import old_glideins_from_ads, slots_constraint
from tests.conftest import FIXTURES
from tests.services.test_poller import FakePool, FakeSchedd, make_config

STARTDS = json.loads((FIXTURES / "classads" / "collector-startds.json").read_text())


def test_glideins_are_counted_once_per_startd_job() -> None:
    entries = {"Site_Name1": "CE_1", "Site_Name2": "CE_2", "Site_Name4": "CE_2"}
    counts = old_glideins_from_ads(STARTDS, "factory1", entries)
    # Site_Name2: two slots of glidein 2295348.0 and one of 2294757.5 (which also shows
    # as Site_Name4 in this fixture: the same job, counted once for CE_2)
    assert counts == {"CE_1": 1, "CE_2": 2}
    assert old_glideins_from_ads(STARTDS, "another", entries) == {}
    assert old_glideins_from_ads(STARTDS, None, entries) == {}


def test_the_collector_query_asks_for_the_old_factory_too() -> None:
    assert slots_constraint("f1", None) == 'AglideinFactory == "f1"'
    assert slots_constraint("f1", "factory1") == (
        '(AglideinFactory == "f1") || (GLIDEIN_Factory == "factory1")'
    )


def _migrating(config: Config) -> Config:
    data = config.model_dump()
    data["migration"] = {"gwms_factory": "factory1"}
    data["entries"][0]["gwms_names"] = ["Site_Name2"]
    return Config.model_validate(data)


def test_the_poller_counts_them_in_the_census() -> None:
    pool = FakePool()
    pool.schedds["s1"] = FakeSchedd("s1", [])
    pool.schedds["factory"] = FakeSchedd("factory", [])
    pool.startds = list(STARTDS)
    config = _migrating(make_config(["s1"]))
    poller = Poller(lambda: config, pool, Metrics(), ManualClock())  # type: ignore[arg-type]

    async def poll() -> None:
        _, census = await poller.poll(1)
        assert dict(census.old_glideins) == {"CE_A": 2}
        assert census.slots == ()  # none of them is ours

    anyio.run(poll)


async def test_the_daemon_never_submits_on_top_of_the_old_factory(tmp_path: Path) -> None:
    from aglidein.condor.fake import FakePool as SimulatedPool
    from aglidein.condor.fake_startds import Slot
    from tests.adapter_helpers import idtoken_entry
    from tests.adapter_helpers import make_config as adapter_config
    from tests.services.test_cycle import MATCH, Factory, _scenario

    config = adapter_config(
        tmp_path,
        {"A": {**idtoken_entry("SiteA", limits={"max_glideins": 5}), "gwms_names": ["Old_A"]}},
        factory={"cycle": "5m"},
        groups=[{"name": "main", "schedds": ["schedd1"], "match": MATCH}],
    )
    config = Config.model_validate({**config.model_dump(), "migration": {"gwms_factory": "gwms1"}})
    clock = ManualClock()
    pool = SimulatedPool(_scenario(), clock=clock)
    for n in range(3):  # three glideins of the old factory at the same CE, never matching
        pool.sim.slots[f"slot1@old{n}"] = Slot(
            {
                "Name": f"slot1@old{n}",
                "GLIDEIN_Factory": "gwms1",
                "GLIDEIN_Entry_Name": "Old_A",
                "GLIDEIN_Schedd": "schedd_glideins1@gwms",
                "GLIDEIN_ClusterId": 100 + n,
                "GLIDEIN_ProcId": 0,
                "GLIDEIN_ToRetire": clock.now() + 10 * 86400,
                "State": "Claimed",
                "Activity": "Busy",
                "Start": False,
            }
        )
    factory = Factory(tmp_path, config, pool, clock)
    try:
        for _ in range(6):
            await factory.cycle.run_cycle()
            ads = await pool.schedd("local").query("true", ["JobStatus"])
            assert sum(1 for a in ads if a["JobStatus"] != 3) <= 2  # 5 - the old factory's 3
            clock.advance(300)
        board = factory.runtime.status.entries["A"]
        assert board.glideins["old_factory"] == 3
        (decision, *_) = board.decisions
        assert decision["old_glideins"] == 3
    finally:
        factory.close()
