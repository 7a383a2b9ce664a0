"""A demand spike: 300 idle jobs appear at once; the factory ramps up as DESIGN §5 says.

The operator's settings: `ramp_up_attenuation: 3`, `max_idle_per_entry: 60`, at most 25
new glideins per entry per cycle in clusters of 10. The glideins wait about an hour at
the CE, so what the factory sends in the first cycles is the policy alone.
"""

from __future__ import annotations

from tests.scenarios.conftest import MakeSim
from tests.scenarios.harness import MATCH, Sim, ce_entry


def _spike(make_sim: MakeSim) -> Sim:
    return make_sim(
        "spike.yaml",
        {"A": ce_entry("SiteA"), "B": ce_entry("SiteB")},
        groups=[
            {
                "name": "main",
                "schedds": ["schedd1"],
                "match": MATCH,
                "limits": {
                    "ramp_up_attenuation": 3,
                    "max_idle_per_entry": 60,
                    "reserve_idle": 5,
                    # the curbs would halve the target once glideins queue: another story
                    "curb_idle_per_entry": 1000,
                },
            }
        ],
        factory={"submit": {"max_per_cycle": 25, "cluster_size": 10}},
    )


async def test_a_spike_is_attenuated_capped_per_entry_and_sent_in_capped_clusters(
    make_sim: MakeSim,
) -> None:
    sim = _spike(make_sim)
    for _ in range(2):  # the quiet start
        plan = await sim.cycle()
        assert sim.decision(plan, "A").limited_by == ("no_demand",)
    assert sim.schedd.submissions == []

    plans = [await sim.cycle() for _ in range(5)]  # the spike arrived at 10 min: cycle 3
    rows = [sim.decision(p, "A") for p in plans]
    assert [r.matching_jobs for r in rows] == [300] * 5
    # 300 / 3 = 100 (ramp_up), then capped to 60 per entry; the reserve (min(old // 3, 5))
    # does not lift it over the cap
    assert [r.requested_idle for r in rows] == [60] * 5
    # 60 wanted, 25 a cycle: 25, 25, then the 10 still missing, then nothing
    assert [r.submit for r in rows] == [25, 25, 10, 0, 0]
    assert [sim.submitted(c, "A") for c in range(3, 8)] == [
        [10, 10, 5],
        [10, 10, 5],
        [10],
        [],
        [],
    ]
    assert rows[0].limited_by == ("ramp_up", "group.max_idle_per_entry", "submit_cap")
    assert rows[1].limited_by == ("ramp_up", "group.max_idle_per_entry", "submit_cap")
    assert rows[2].limited_by == ("ramp_up", "group.max_idle_per_entry")
    assert sim.glideins(entry="A") == {"idle": 60}
    # the jobs want SiteA only: B is told why it gets nothing
    assert {sim.decision(p, "B").limited_by for p in plans} == {("no_demand",)}
    assert sim.glideins(entry="B") == {}
    # what the operator sees for the pair in /api/v1/status
    (row,) = (await sim.entry_status("A"))["decisions"]
    assert row["requested_idle"] == 60
    assert row["limited_by"] == ["ramp_up", "group.max_idle_per_entry"]
    assert sim.metric("aglidein_requested_idle_glideins", group="main", entry="A") == 60


async def test_as_spike_glideins_start_the_idle_pool_is_refilled_never_past_the_cap(
    make_sim: MakeSim,
) -> None:
    sim = _spike(make_sim)
    for _ in range(48):  # four hours
        await sim.cycle()
        counts = sim.glideins(entry="A")
        assert counts["idle"] <= 60
        for submission in sim.schedd.submissions:
            assert submission.count <= 10
        assert sum(sim.submitted(len(sim.plans), "A")) <= 25
    # glideins started after about an hour and took jobs; the factory kept sending more
    counts = sim.glideins(entry="A")
    assert counts["running"] > 60
    running_jobs = sim.decision(sim.plans[-1], "A").running_jobs
    assert running_jobs == counts["running"]  # one slot per glidein, each busy
    assert sim.schedd.violations == []
