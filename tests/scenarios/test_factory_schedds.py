"""Two hours on a simulated pool with two factory schedds, the second one silent for 40
minutes from the second cycle on (while clusters are still being sent): the limits hold
on the real queues every cycle (its glideins, those sent after its last answer included,
keep counting while it is silent), nothing is sent to it meanwhile, and it is used
again once it answers."""

from __future__ import annotations

from pathlib import Path

from aglidein.clock import ManualClock
from aglidein.condor.fake import FakePool
from aglidein.condor.fake_schedd import JobStatus
from tests.adapter_helpers import idtoken_entry, make_config
from tests.services.test_cycle import MATCH, Factory, _scenario

SCHEDDS = ["fs1", "fs2"]
LIMIT = 30
LIVE = (JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD)


async def test_two_factory_schedds_one_silent_for_a_while(tmp_path: Path) -> None:
    limits = {"max_glideins": LIMIT, "max_idle": LIMIT}
    config = make_config(
        tmp_path,
        {"A": idtoken_entry("SiteA", limits=limits), "B": idtoken_entry("SiteB", limits=limits)},
        factory={"cycle": "5m", "submit": {"cluster_size": 5, "max_per_cycle": 20}},
        pool={"factory_schedds": SCHEDDS},
        groups=[{"name": "main", "schedds": ["schedd1"], "match": MATCH}],
    )
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock, factory_schedds=SCHEDDS)
    factory = Factory(tmp_path, config, pool, clock)
    fs2 = pool.factories["fs2"]
    peak = 0
    try:
        for cycle in range(24):
            silent = 2 <= cycle < 10  # from early on, while clusters are still being sent
            fs2.down = silent
            clusters_before = fs2.next_cluster
            plan = await factory.cycle.run_cycle()
            assert not plan.frozen
            for entry in ("A", "B"):
                live = sum(
                    1
                    for schedd in pool.factories.values()
                    for job in schedd.jobs.values()
                    if job.ad["AglideinEntry"] == entry and job.status in LIVE
                )
                assert live <= LIMIT, (cycle, entry, live)
                peak = max(peak, live)
            if silent:
                assert fs2.next_cluster == clusters_before  # nothing submitted to it
                assert all(j.status != JobStatus.REMOVED for j in fs2.jobs.values())
            clock.advance(300)
        assert peak == LIMIT  # the limit was reached: it is what held
        assert fs2.next_cluster > 1
        row = factory.runtime.status.as_json()["pool"]["factory_schedd:fs2"]
        assert row["ok"] is True
    finally:
        factory.close()
