"""One decision cycle (core.cycle.plan_cycle): trouble → lifecycle → decide → merged actions."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from aglidein.config import Config
from aglidein.core.cycle import CycleMemory, plan_cycle, silent_candidates
from aglidein.core.lifecycle import FORCEX_AFTER_CYCLES
from aglidein.core.model import (
    DemandSnapshot,
    EntryHealth,
    GlideinCensus,
    GlideinState,
    OperatorState,
    Slot,
    SlotActivity,
)
from tests.adapter_helpers import idtoken_entry, make_config
from tests.core.test_lifecycle import NOW, _g


def _config(tmp_path: Path) -> Config:
    return make_config(tmp_path, {"CE": idtoken_entry("SiteA"), "OTHER": idtoken_entry("SiteB")})


def test_a_hold_storm_backs_the_entry_off_before_the_policy_decides(tmp_path: Path) -> None:
    config = _config(tmp_path)
    held = [_g(i, GlideinState.HELD, NOW - 60, holds=1, code=0) for i in range(5)]
    census = GlideinCensus(glideins=tuple(held), taken_at=NOW)
    planned = plan_cycle(config, DemandSnapshot(()), census, {}, CycleMemory(), NOW)
    assert dict(planned.troubled) == {"CE": "hold_storm"}
    assert planned.health["CE"].backoff_until is not None
    assert planned.health["OTHER"] == EntryHealth("OTHER")  # every configured entry is there
    (decision,) = [d for d in planned.plan.decisions if d.entry == "CE"]
    assert "backoff" in decision.limited_by


def test_removal_cycles_carry_over_and_end_in_forcex(tmp_path: Path) -> None:
    config = _config(tmp_path)
    removed = _g(0, GlideinState.REMOVED, NOW - 60)
    census = GlideinCensus(glideins=(removed,), taken_at=NOW)
    memory = CycleMemory(removal_cycles=MappingProxyType({"7.0": FORCEX_AFTER_CYCLES - 1}))
    planned = plan_cycle(config, DemandSnapshot(()), census, {}, memory, NOW)
    assert dict(planned.removal_cycles) == {"7.0": FORCEX_AFTER_CYCLES}
    assert [(r.job_ids, r.force) for r in planned.plan.removals] == [(("7.0",), True)]
    assert planned.memory.removal_cycles == planned.removal_cycles


def test_an_unreachable_factory_schedd_keeps_the_memory_and_acts_on_nothing(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    census = GlideinCensus(
        glideins=(_g(0, GlideinState.HELD, NOW - 3600, holds=1, code=1),),
        taken_at=NOW,
        factory_ok=False,
    )
    memory = CycleMemory(removal_cycles=MappingProxyType({"7.9": 3}))
    planned = plan_cycle(config, DemandSnapshot(()), census, {}, memory, NOW)
    assert dict(planned.removal_cycles) == {"7.9": 3}
    assert planned.plan.frozen
    assert planned.plan.removals == planned.plan.releases == planned.plan.submits == ()


def test_draining_removes_idle_glideins_once_with_the_lifecycle_reason(tmp_path: Path) -> None:
    config = _config(tmp_path)
    census = GlideinCensus(glideins=(_g(0, GlideinState.IDLE, NOW - 60),), taken_at=NOW)
    health = {"CE": EntryHealth("CE", operator=OperatorState.DRAINING)}
    memory = CycleMemory(health=MappingProxyType(health))
    planned = plan_cycle(config, DemandSnapshot(()), census, {}, memory, NOW)
    assert [(r.job_ids, r.reason) for r in planned.plan.removals] == [(("7.0",), "drain")]


def test_silent_candidates_are_running_glideins_without_a_slot() -> None:
    census = GlideinCensus(
        glideins=(
            _g(0, GlideinState.RUNNING, NOW),
            _g(1, GlideinState.RUNNING, NOW),
            _g(2, GlideinState.IDLE, NOW),
        ),
        slots=(Slot("slot1@x", "g1", "CE", "main", SlotActivity.BUSY),),
        taken_at=NOW,
    )
    assert silent_candidates(census) == {"g0"}
