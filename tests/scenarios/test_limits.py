"""Limits hold over a simulated day of random arrivals (DESIGN §4, §5).

Jobs arrive at random on two schedds, for two groups, wanting any of four entries that
queue, hold and fail differently. After every cycle the fake pool's own queue is
counted: idle and total glideins never exceed a group's, an entry's or the factory's
limit (`max_glideins` counts held glideins too, a group's `max_running` idle and running
ones), and nothing is submitted where the held glideins already reach `max_held`.
"""

from __future__ import annotations

import random
from collections import Counter

from aglidein.condor.scenario import JobSpec
from tests.scenarios.conftest import MakeSim
from tests.scenarios.harness import MATCH, ce_entry

SITES = ["SiteA", "SiteB", "SiteC", "SiteG"]

ENTRY_LIMITS = {
    "A": {"max_glideins": 30, "max_idle": 8, "max_held": 4},
    "B": {"max_glideins": 25, "max_idle": 10, "max_held": 10},
    "C": {"max_glideins": 40, "max_idle": 12, "max_held": 10},
    "G": {"max_glideins": 20, "max_idle": 6, "max_held": 3},
}
GROUP_LIMITS = {
    "main": {"max_running": 60, "max_idle": 16, "max_held": 6, "max_idle_per_entry": 10},
    "other": {"max_running": 35, "max_idle": 10, "max_held": 5, "max_idle_per_entry": 6},
}
FACTORY_LIMITS = {"max_glideins": 80, "max_idle": 24, "max_held": 8}


def _entry(name: str) -> dict[str, object]:
    return ce_entry(f"Site{name}", limits=ENTRY_LIMITS[name])


def _within(counts: Counter[str], limits: dict[str, int], where: str) -> list[str]:
    """What exceeds `max_idle`, and `max_glideins` (every glidein on the queue, held ones
    too) or a group's `max_running` (idle and running glideins)."""
    problems = []
    if counts["idle"] > limits["max_idle"]:
        problems.append(f"{where}: {counts['idle']} idle > max_idle {limits['max_idle']}")
    if "max_glideins" in limits:
        total, top = counts["idle"] + counts["running"] + counts["held"], limits["max_glideins"]
    else:
        total, top = counts["idle"] + counts["running"], limits["max_running"]
    if total > top:
        problems.append(f"{where}: {total} glideins > {top}")
    return problems


async def test_a_day_of_random_arrivals_never_exceeds_a_limit(make_sim: MakeSim) -> None:
    sim = make_sim(
        "busy_day.yaml",
        {name: _entry(name) for name in ENTRY_LIMITS},
        groups=[
            {
                "name": name,
                "schedds": [schedd],
                "match": MATCH,
                "limits": limits,
            }
            for (name, limits), schedd in zip(
                GROUP_LIMITS.items(), ["schedd1", "schedd2"], strict=True
            )
        ],
        factory={"cycle": "10m", "limits": FACTORY_LIMITS},
    )
    rng = random.Random(2026)
    problems: list[str] = []
    peak: Counter[str] = Counter()
    while sim.elapsed < 24 * 3600:
        for schedd in sim.pool.sim.schedds.values():
            if rng.random() < 0.4:  # a burst now and then, of jobs wanting 1-3 sites
                sites = ",".join(rng.sample(SITES, rng.randint(1, 3)))
                spec = JobSpec(attrs={"DESIRED_Sites": sites}, run_time=rng.uniform(600, 7200))
                sim.pool.sim.add_jobs(schedd, spec, rng.randint(1, 40))
        plan = await sim.cycle()
        for name, limits in ENTRY_LIMITS.items():
            counts = sim.glideins(entry=name)
            problems += _within(counts, limits, f"cycle {plan.cycle} entry {name}")
            peak[f"{name}.held"] = max(peak[f"{name}.held"], counts["held"])
        for name, limits in GROUP_LIMITS.items():
            problems += _within(sim.glideins(group=name), limits, f"cycle {plan.cycle} {name}")
        counts = sim.glideins()
        problems += _within(counts, FACTORY_LIMITS, f"cycle {plan.cycle} factory")
        counts["total"] = counts["idle"] + counts["running"] + counts["held"]
        for key in ("idle", "total"):
            peak[key] = max(peak[key], counts[key])
    for s in sim.schedd.submissions:
        where = f"cycle {s.cycle} submit {s.count} to {s.entry}/{s.group}"
        if s.before["held"] >= ENTRY_LIMITS[s.entry]["max_held"]:
            problems.append(f"{where} with {s.before['held']} held at the entry")
        if s.group_before["held"] >= GROUP_LIMITS[s.group]["max_held"]:
            problems.append(f"{where} with {s.group_before['held']} held in the group")
        if s.factory_before["held"] >= FACTORY_LIMITS["max_held"]:
            problems.append(f"{where} with {s.factory_before['held']} held in the factory")
    assert problems == []
    # the limits were reached, not merely never approached
    assert peak["idle"] >= FACTORY_LIMITS["max_idle"] * 3 // 4
    assert peak["total"] >= FACTORY_LIMITS["max_glideins"] * 3 // 4
    assert any(peak[f"{e}.held"] >= limits["max_held"] for e, limits in ENTRY_LIMITS.items())
    assert {s.entry for s in sim.schedd.submissions} == set(ENTRY_LIMITS)
    assert sim.schedd.violations == []
