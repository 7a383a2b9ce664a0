"""Outages of the pool's daemons: glideins are kept, actions wait, nothing is mass-removed.

A user schedd that stops answering keeps its last demand for `stale_cycles` cycles (marked
`stale_data`), then its demand is dropped; glideins already sent stay: the running ones
keep their jobs, the idle ones keep waiting. When the schedd's jobs really are gone,
idle glideins go only after 5 cycles without demand and unused running ones after 10,
`remove_per_cycle` at a time. A collector outage freezes the cycle: `pool_unreachable`,
no submission, no removal.
"""

from __future__ import annotations

from aglidein.condor.fake import FakeCollector
from aglidein.condor.fake_schedd import JobStatus
from tests.scenarios.conftest import MakeSim
from tests.scenarios.harness import MATCH, Sim, ce_entry

REMOVE_PER_CYCLE = 5
STALE_CYCLES = 3


def _sim(make_sim: MakeSim) -> Sim:
    return make_sim(
        "schedd_outage.yaml",
        # A takes at most 40 glideins: most jobs stay idle, and Q keeps its demand
        {"A": {**ce_entry("SiteA"), "limits": {"max_glideins": 40}}, "Q": ce_entry("SiteQ")},
        groups=[
            {
                "name": "main",
                "schedds": ["schedd1"],
                "match": MATCH,
                "limits": {"max_idle_per_entry": 20, "curb_idle_per_entry": 1000},
            }
        ],
        factory={
            "stale_cycles": STALE_CYCLES,
            "submit": {"remove_per_cycle": REMOVE_PER_CYCLE},
        },
    )


async def _built_up(make_sim: MakeSim) -> Sim:
    """Two hours of cycles: glideins run jobs at A and wait, idle, at Q."""
    sim = _sim(make_sim)
    for _ in range(24):
        await sim.cycle()
    assert sim.glideins(entry="A") == {"running": 40}
    assert sim.glideins(entry="Q") == {"idle": 20}
    return sim


def _live_ids(sim: Sim) -> set[str]:
    """Job ids of the glideins idle, running or held in the factory schedd's queue."""
    live = (JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD)
    return {job_id for job_id, job in sim.pool.factory.jobs.items() if job.status in live}


async def test_a_schedd_outage_longer_than_stale_cycles_removes_no_glidein(
    make_sim: MakeSim,
) -> None:
    sim = await _built_up(make_sim)
    before = _live_ids(sim)
    running_jobs = sim.decision(sim.plans[-1], "A").running_jobs
    sim.pool.sim.schedds["schedd1"].down = True
    for stale in range(1, 3 * STALE_CYCLES + 1):
        plan = await sim.cycle()
        for entry in ("A", "Q"):
            row = sim.decision(plan, entry)
            assert "stale_data" in row.limited_by
            if stale <= STALE_CYCLES:  # the last demand is still believed ...
                assert row.matching_jobs > 0
            else:  # ... then dropped: nothing new is asked for
                assert row.matching_jobs == 0
                assert row.requested_idle == 0
                assert sim.submitted(len(sim.plans), entry) == []
        (schedd,) = (await sim.status())["schedds"]
        assert schedd["ok"] is False
        assert schedd["stale_cycles"] == stale
        assert "connection refused" in schedd["last_error"]
        assert sim.metric("aglidein_schedd_stale_cycles", schedd="schedd1") == stale
        # not one glidein removed: running ones keep their jobs, idle ones keep waiting
        assert sim.schedd.removals == []
        assert before <= _live_ids(sim)
        assert sim.decision(plan, "A").running_jobs >= running_jobs
    assert sim.glideins(entry="Q")["idle"] == 20

    sim.pool.sim.schedds["schedd1"].down = False
    plan = await sim.cycle()
    assert all("stale_data" not in d.limited_by for d in plan.decisions)
    assert sim.decision(plan, "Q").matching_jobs > 0
    assert (await sim.status())["schedds"][0] == {
        "name": "schedd1",
        "group": "main",
        "ok": True,
        "stale_cycles": 0,
        "last_error": None,
    }
    assert sim.schedd.removals == []
    assert before <= _live_ids(sim)


async def test_when_the_jobs_are_gone_glideins_go_gradually_never_all_at_once(
    make_sim: MakeSim,
) -> None:
    sim = await _built_up(make_sim)
    running_at_a = sim.glideins(entry="A")["running"]
    sim.pool.sim.schedds["schedd1"].down = True
    for _ in range(2 * STALE_CYCLES):
        await sim.cycle()
    # while it was down, its users' jobs finished or were removed
    sim.pool.sim.schedds["schedd1"].jobs.clear()
    sim.pool.sim.schedds["schedd1"].down = False
    assert sim.schedd.removals == []

    back = len(sim.plans) + 1  # the first cycle that sees the empty schedd
    for _ in range(14):
        await sim.cycle()
    removed = {e: [sim.removed(c, e) for c in range(back, back + 14)] for e in ("A", "Q")}
    # idle glideins nobody needs go after 5 cycles without demand, 5 a cycle ...
    assert removed["Q"] == [0, 0, 0, 0, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0]
    # ... running ones whose slots all sit idle after 10, 5 a cycle
    assert removed["A"] == [0] * 9 + [5] * 5
    q_removals = [r for r in sim.schedd.removals if r.entry == "Q"]
    assert {r.reason for r in q_removals} == {"excess_idle"}
    assert sum(r.states["idle"] for r in q_removals) == 20
    assert sim.glideins(entry="Q") == {}
    a_removals = [r for r in sim.schedd.removals if r.entry == "A"]
    assert {r.reason for r in a_removals} == {"excess_all"}
    assert all(set(r.states) == {"running"} for r in a_removals)
    assert sim.glideins(entry="A") == {"running": running_at_a - 25}


async def test_a_collector_outage_freezes_submissions_and_removals(make_sim: MakeSim) -> None:
    sim = _sim(make_sim)
    collector = sim.pool.collector()
    assert isinstance(collector, FakeCollector)
    collector.down = True  # 200 idle jobs, no glidein yet: this cycle would submit
    plan = await sim.cycle()
    assert plan.frozen
    assert all("pool_unreachable" in d.limited_by for d in plan.decisions)
    assert all(d.submit == 0 for d in plan.decisions)
    assert sim.schedd.submissions == []
    assert sim.metric("aglidein_collector_up") == 0
    collector.down = False
    await sim.cycle()
    assert sim.submitted(2, "A")
    assert sim.submitted(2, "Q")

    for _ in range(22):
        await sim.cycle()
    sim.pool.sim.schedds["schedd1"].jobs.clear()
    before = _live_ids(sim)
    for _ in range(4):  # four cycles without demand: the fifth would remove idle ones
        await sim.cycle()
    assert sim.schedd.removals == []
    collector.down = True
    plan = await sim.cycle()
    assert plan.frozen
    assert all("pool_unreachable" in d.limited_by for d in plan.decisions)
    assert sim.schedd.removals == []
    assert before == _live_ids(sim)
    status = await sim.status()
    assert {e["health"] for e in status["entries"]} == {"ok"}
    collector.down = False
    await sim.cycle()  # the fifth cycle without demand, counted once the pool answers
    assert sim.removed(len(sim.plans), "Q") == REMOVE_PER_CYCLE
