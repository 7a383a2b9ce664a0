"""`aglidein plan` says what the daemon's cycle does, and nothing after acting discards it.

The daemon's cycle runs on the simulated pool; before each of its cycles, `plan` makes
its plan from the same demand and census and from the state DB as the last cycle left
it. The two must be the same plan: decisions, submissions, releases, removals, memory.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

import anyio
import pytest

from aglidein.clock import ManualClock
from aglidein.commands import plan as plan_command
from aglidein.condor.fake import FakePool
from aglidein.condor.scenario import EntryBehaviour
from aglidein.config import Config
from aglidein.core.model import DemandSnapshot, GlideinCensus, GlideinState, Plan
from aglidein.errors import StateError
from aglidein.services.cycle import CycleService
from aglidein.services.cycle_setup import build_cycle, token_writer
from aglidein.services.glidein_files import PilotKit
from aglidein.services.poller import Poller
from aglidein.services.runtime import Runtime
from tests.adapter_helpers import idtoken_entry, make_runtime, metric, placeholder_pilot
from tests.services.test_cycle import _config, _scenario

_NO_DUMPS = argparse.Namespace(jobs=None, glideins=None, startds=None)


def _reports(glidein_id: str) -> bool:
    """A quarter of the glideins post log records (fixed by the id: it holds every cycle)."""
    return int(glidein_id.replace("-", "")[-1], 16) % 4 == 0


class PlanBeforeEachCycle:
    """The daemon's poller; after each poll, `aglidein plan` plans from what it saw."""

    def __init__(self, inner: Poller, config: Config, clock: ManualClock) -> None:
        self.inner = inner
        self.config = config
        self.clock = clock
        self.seen: tuple[DemandSnapshot, GlideinCensus] | None = None
        self.plans: list[Plan] = []

    async def poll(self, cycle: int) -> tuple[DemandSnapshot, GlideinCensus]:
        self.seen = await self.inner.poll(cycle)
        make = functools.partial(
            plan_command.make_plan, self.config, _NO_DUMPS, now=self.clock.now()
        )
        plan, _ = await anyio.to_thread.run_sync(make)
        self.plans.append(plan)
        return self.seen

    async def reported(self) -> set[str]:
        assert self.seen is not None
        return {g.glidein_id for g in self.seen[1].glideins if _reports(g.glidein_id)}


def _daemon_planned(
    tmp_path: Path,
    config: Config,
    pool: FakePool,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    *,
    reported: bool = True,
) -> tuple[CycleService, PlanBeforeEachCycle, Runtime]:
    """The daemon's cycle on `pool`, with `plan` planning from what its poller saw before
    each cycle (and whether glideins report, for entry health)."""
    runtime = make_runtime(config, clock)
    poller = PlanBeforeEachCycle(
        Poller(runtime.config, pool, runtime.metrics, clock), config, clock
    )

    async def live(config: Config, timer: Any) -> tuple[DemandSnapshot, GlideinCensus]:
        assert poller.seen is not None
        return poller.seen

    monkeypatch.setattr(plan_command, "_live", live)
    cycle, _ = build_cycle(
        runtime,
        pool=pool,
        poller=poller,
        kit=PilotKit(Path(config.factory.state_dir), placeholder_pilot(tmp_path)),
        tokens=token_writer(Path(config.factory.state_dir)),
        credentials=functools.partial(plan_command._credentials, config),
        reported=poller.reported if reported else None,
    )
    return cycle, poller, runtime


def _assert_same_plans(acted: list[Plan], planned: list[Plan]) -> None:
    for number, (daemon, plan) in enumerate(zip(acted, planned, strict=True), 1):
        assert plan.now == daemon.now
        assert plan.decisions == daemon.decisions, f"cycle {number}"
        assert plan.submits == daemon.submits, f"cycle {number}"
        assert plan.releases == daemon.releases, f"cycle {number}"
        assert plan.removals == daemon.removals, f"cycle {number}"
        assert dict(plan.memory.idle_demand) == dict(daemon.memory.idle_demand)
        assert dict(plan.memory.zero_demand_cycles) == dict(daemon.memory.zero_demand_cycles)


async def test_plan_and_the_daemon_make_the_same_plan_cycle_after_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = {
        "A": idtoken_entry("SiteA"),
        "B": idtoken_entry("SiteB", glidein={"report_timeout": "10m"}),
        "S": idtoken_entry("SiteS"),
        "C": idtoken_entry("SiteC", limits={"max_idle": 3}),
    }
    config = _config(tmp_path, entries, backoff={"initial": "10m"})
    clock = ManualClock()
    scenario = _scenario(
        S=EntryBehaviour(queue_time=60, hold_rate=1.0),  # hold storms, releases, backoff
        B=EntryBehaviour(queue_time=60, silent_rate=0.9),  # glideins that never report
        C=EntryBehaviour(queue_time=60, hold_rate=0.5, hold_reason_code=1),  # removals
    )
    pool = FakePool(scenario, clock=clock)
    cycle, poller, runtime = _daemon_planned(tmp_path, config, pool, clock, monkeypatch)
    acted: list[Plan] = []
    try:
        for _ in range(16):
            acted.append(await cycle.run_cycle())
            clock.advance(300)
    finally:
        runtime.state.close()
    _assert_same_plans(acted, poller.plans)
    # what the comparison covered: every kind of action and of memory happened
    limited = {r for p in acted for d in p.decisions for r in d.limited_by}
    assert {"backoff", "ramp_up", "entry.max_idle"} <= limited, limited
    assert any(acted[-1].memory.idle_demand.values())
    assert any(p.releases for p in acted)
    assert any(r.reason == "held_unrecoverable" for p in acted for r in p.removals)
    assert any(p.submits for p in acted)
    reasons = {cycle.health[e].last_failure_reason for e in ("S", "B")}
    assert reasons == {"hold_storm", "never_reported"}, reasons


async def test_failures_after_acting_keep_what_was_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, {"A": idtoken_entry("SiteA"), "F": idtoken_entry("SiteB")})
    clock = ManualClock()
    pool = FakePool(_scenario(F=EntryBehaviour(submit_failure_rate=1.0)), clock=clock)
    runtime = make_runtime(config, clock)
    cycle, _ = build_cycle(
        runtime,
        pool=pool,
        kit=PilotKit(Path(config.factory.state_dir), placeholder_pilot(tmp_path)),
        tokens=token_writer(Path(config.factory.state_dir)),
    )
    state = runtime.state
    real_save, real_put = state.save_health, state.put_json

    async def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise StateError("state.db: database or disk is full")

    async def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise OSError(5, "Input/output error")

    def no_status(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    assert cycle.exits is not None
    monkeypatch.setattr(cycle.exits, "scan", unreadable)
    monkeypatch.setattr(cycle.provisioner, "prune_tokens", unreadable)
    monkeypatch.setattr(state, "save_health", disk_full)
    monkeypatch.setattr(state, "put_json", disk_full)
    monkeypatch.setattr("aglidein.services.cycle.publish_cycle", no_status)
    try:
        plan = await cycle.run_cycle()  # before: the first failure escaped and lost the rest
        glideins = await pool.schedd("local").query('AglideinFactory == "test-factory"')
        assert len(glideins) == sum(r.count for r in plan.submits if r.entry == "A") > 0
        assert cycle.last_plan == plan
        assert cycle.memory == plan.memory
        assert cycle.health["F"].last_failure_reason == "submit_failed"  # in memory
        for reason in ("exit_scan", "token_prune", "memory_save", "status_publish"):
            assert metric(runtime, "aglidein_cycle_step_failures_total", reason=reason) == 1
        # one failed save per entry whose health changed: A's success, F's backoff
        assert metric(runtime, "aglidein_cycle_step_failures_total", reason="health_save") == 2
        assert await state.load_health() == {}
        # the disk recovers: the next cycle saves what the last one could not
        monkeypatch.setattr(state, "save_health", real_save)
        monkeypatch.setattr(state, "put_json", real_put)
        clock.advance(300)
        await cycle.run_cycle()
        stored = await state.load_health()
        assert stored["F"].last_failure_reason == "submit_failed"
        assert stored["A"].last_success is not None
        assert await state.get_json("policy_memory") is not None
    finally:
        state.close()


async def test_a_removed_glidein_keeps_its_removal_count_across_a_restart(tmp_path: Path) -> None:
    """Forcex after 20 cycles counts cycles, not cycles since the last restart."""
    from aglidein.services.cycle_memory import load_cycle_memory

    config = _config(tmp_path, {"A": idtoken_entry("SiteA")})
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock)
    runtime = make_runtime(config, clock)
    cycle, _ = build_cycle(
        runtime,
        pool=pool,
        kit=PilotKit(Path(config.factory.state_dir), placeholder_pilot(tmp_path)),
        tokens=token_writer(Path(config.factory.state_dir)),
    )
    try:
        await cycle.run_cycle()
        census = (await cycle.poller.poll(0))[1]
        ids = [g.job_id for g in census.glideins if g.state is not GlideinState.REMOVED]
        cycle._removal_cycles = {ids[0]: 7}
        await cycle._bookkeeping(census, None, clock.now())
        stored = await load_cycle_memory(runtime.state)
        assert dict(stored.memory.removal_cycles) == {ids[0]: 7}
        assert stored.reported is None
    finally:
        runtime.state.close()


async def test_plan_and_the_daemon_agree_through_a_downtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A downtime added and ended in the state DB between cycles (as the API does) acts
    from the next cycle, and `plan` cuts and removes exactly what the daemon does."""
    config = _config(tmp_path, {"A": idtoken_entry("SiteA"), "B": idtoken_entry("SiteB")})
    clock = ManualClock()
    pool = FakePool(_scenario(A=EntryBehaviour(queue_time=6 * 3600)), clock=clock)
    cycle, poller, runtime = _daemon_planned(
        tmp_path, config, pool, clock, monkeypatch, reported=False
    )
    acted: list[Plan] = []
    try:
        for number in range(10):
            if number == 3:
                now = clock.now()
                await runtime.state.add_downtime("A", "main", now, None, "CE upgrade", now)
            if number == 6:
                await runtime.state.end_downtime(1, clock.now())
            acted.append(await cycle.run_cycle())
            clock.advance(300)
    finally:
        runtime.state.close()
    _assert_same_plans(acted, poller.plans)
    in_downtime = [next(d for d in p.decisions if d.entry == "A") for p in acted[3:6]]
    assert all("downtime" in d.limited_by and d.downtime == "CE upgrade" for d in in_downtime)
    assert all(d.submit == 0 for d in in_downtime)
    removed = [r for r in acted[3].removals if r.reason == "downtime"]
    assert removed
    assert {r.entry for r in removed} == {"A"}
    assert not any(r.reason == "downtime" for p in acted[4:] for r in p.removals)
    assert any(s.entry == "B" for p in acted[3:6] for s in p.submits)  # B is still served
    assert any(s.entry == "A" for s in acted[6].submits)  # ended: A is served again
