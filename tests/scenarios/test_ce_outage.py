"""A CE outage backs its entry off, the other entries keep being served, and it recovers.

From 1 h to 3 h of the simulated day, C's CE refuses every submission and H's CE puts
every glidein that would start on hold. Each entry backs off exponentially
(`factory.backoff`: 10 min, doubling, at most 40 min), gets nothing while backed off,
is retried when the backoff ends, and after the window is healthy and gets glideins
again; A, the healthy entry, is served throughout.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from aglidein.core.health import effective_state
from aglidein.core.model import HealthState
from tests.scenarios.conftest import MakeSim
from tests.scenarios.harness import MATCH, Sim, ce_entry

OUTAGE = (3600.0, 3 * 3600.0)
INITIAL, MAX = 600.0, 2400.0


def _entry(site: str) -> dict[str, object]:
    return ce_entry(site, limits={"max_glideins": 20})


@dataclass(frozen=True)
class Failure:
    """One backoff, as the entry's health recorded it."""

    at: float  # seconds into the simulation
    delay: float
    reason: str


def _sim(make_sim: MakeSim, troubled: str) -> Sim:
    return make_sim(
        "ce_outage.yaml",
        {"A": _entry("SiteA"), troubled: _entry(f"Site{troubled}")},
        groups=[
            {
                "name": "main",
                "schedds": ["schedd1"],
                "match": MATCH,
                "limits": {"max_idle_per_entry": 10, "curb_idle_per_entry": 1000},
            }
        ],
        factory={"backoff": {"initial": "10m", "max": "40m", "reset_after": "1h"}},
    )


async def _run(sim: Sim, entry: str, hours: float) -> tuple[list[Failure], list[str]]:
    """Cycles for `hours`; the entry's backoffs and its health at each cycle."""
    failures: list[Failure] = []
    states: list[str] = []
    seen: float | None = None
    while sim.elapsed < hours * 3600:
        await sim.cycle()
        health = sim.factory.cycle.health[entry]
        now = sim.clock.now() - sim.period  # the time the cycle ran
        if health.last_failure != seen and health.last_failure is not None:
            assert health.backoff_until is not None
            failures.append(
                Failure(
                    health.last_failure - sim.pool.sim.started,
                    health.backoff_until - health.last_failure,
                    str(health.last_failure_reason),
                )
            )
        seen = health.last_failure
        states.append(effective_state(sim.config, health, entry, now).value)
    return failures, states


def _exponential(delays: list[float]) -> list[float]:
    return [min(INITIAL * 2**i, MAX) for i in range(len(delays))]


def _cycle_at(sim: Sim, offset: float) -> int:
    return int(offset // sim.period) + 1


async def test_refused_submissions_back_the_entry_off_until_the_ce_is_back(
    make_sim: MakeSim,
) -> None:
    sim = _sim(make_sim, "C")
    failures, states = await _run(sim, "C", 5)

    assert len(failures) >= 3
    assert {f.reason for f in failures} == {"submit_failed"}
    assert [f.delay for f in failures] == _exponential([f.delay for f in failures])
    assert all(OUTAGE[0] <= f.at < OUTAGE[1] for f in failures)
    refused = [s for s in sim.schedd.submissions if s.entry == "C" and not s.accepted]
    # one refused cluster per attempt, and each attempt exactly when the backoff ended
    assert [(s.cycle - 1) * sim.period for s in refused] == [f.at for f in failures]
    for before, after in itertools.pairwise(failures):
        assert after.at == before.at + before.delay
    # while backed off, nothing was sent to C, whatever the demand
    assert sim.schedd.violations == []
    last = failures[-1]
    back = _cycle_at(sim, last.at + last.delay)
    assert sim.submitted(back, "C")  # retried when the last backoff ended, and accepted
    assert states[back - 1] == "ok"
    assert states[_cycle_at(sim, failures[0].at) - 1 : back - 1] == ["backoff"] * (
        back - _cycle_at(sim, failures[0].at)
    )
    assert states[-1] == "ok"
    assert sim.glideins(entry="C")["running"] > 10
    # A was served all through C's outage
    during = range(_cycle_at(sim, OUTAGE[0]), _cycle_at(sim, OUTAGE[1]))
    assert sum(1 for c in during if sim.submitted(c, "A")) >= 8
    assert not [s for s in sim.schedd.submissions if s.entry == "A" and not s.accepted]


async def test_backoff_shows_in_status_and_metrics_while_it_lasts(make_sim: MakeSim) -> None:
    sim = _sim(make_sim, "C")
    while sim.factory.cycle.health.get("C") is None or not sim.factory.cycle.health["C"].failures:
        await sim.cycle()
        assert sim.elapsed < 3 * 3600, "C never backed off"
    # the cycle whose submission was refused
    row = await sim.entry_status("C")
    assert row["health"] == "backoff"
    assert row["backoff_until"] is not None
    assert sim.metric("aglidein_entry_backoff_seconds", entry="C") == INITIAL
    assert sim.metric("aglidein_entry_health", entry="C", state="backoff") == 1
    assert sim.metric("aglidein_submissions_total", entry="C", result="failure") > 0
    # the next one, five minutes on: the decision says why C gets nothing
    await sim.cycle()
    row = await sim.entry_status("C")
    assert row["health"] == "backoff"
    assert "backoff" in row["decisions"][0]["limited_by"]
    assert row["decisions"][0]["submit"] == 0
    assert sim.metric("aglidein_entry_backoff_seconds", entry="C") == INITIAL - sim.period
    assert (await sim.entry_status("A"))["health"] == "ok"


async def test_a_hold_storm_backs_the_entry_off_and_it_recovers_after_the_outage(
    make_sim: MakeSim,
) -> None:
    sim = _sim(make_sim, "H")
    failures, states = await _run(sim, "H", 5)

    assert len(failures) >= 2
    assert {f.reason for f in failures} == {"hold_storm"}
    assert [f.delay for f in failures] == _exponential([f.delay for f in failures])
    assert all(OUTAGE[0] <= f.at <= OUTAGE[1] for f in failures)
    assert sim.schedd.violations == []
    # held glideins were released (not removed): after the window they run
    assert sim.metric("aglidein_releases_total", entry="H", result="success") > 0
    assert not [r for r in sim.schedd.removals if r.entry == "H"]
    last = failures[-1]
    recovered = _cycle_at(sim, last.at + last.delay)
    assert "backoff" not in states[recovered - 1 :]
    assert any(sim.submitted(c, "H") for c in range(recovered, len(sim.plans) + 1))
    counts = sim.glideins(entry="H")
    assert counts["held"] == 0
    assert counts["running"] > 10
    during = range(_cycle_at(sim, OUTAGE[0]), _cycle_at(sim, OUTAGE[1]))
    assert sum(1 for c in during if sim.submitted(c, "A")) >= 8
    assert HealthState(states[-1]) is HealthState.OK
