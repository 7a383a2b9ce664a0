"""What a cycle leaves for the next in the state DB, as the daemon writes and plan reads it."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import anyio

from aglidein.core.model import EntryHealth, PolicyMemory
from aglidein.services.cycle_memory import (
    POLICY_KEY,
    load_cycle_memory,
    save_cycle_memory,
    stored_cycle,
)
from aglidein.state import StateDB


async def test_memory_round_trips_with_idle_demand_removal_cycles_and_reported(
    tmp_path: Path,
) -> None:
    state = StateDB.open(tmp_path / "state.db")
    try:
        policy = PolicyMemory(
            zero_demand_cycles=MappingProxyType({("main", "A"): 3}),
            idle_demand=MappingProxyType({("main", "A"): 12}),  # was lost on restart before
        )
        await state.save_health(EntryHealth("A", failures=2))
        await save_cycle_memory(state, policy, {"7.0": 4}, {"g1"})
        stored = await load_cycle_memory(state)
        assert stored.memory.policy == policy
        assert dict(stored.memory.removal_cycles) == {"7.0": 4}
        assert stored.memory.health["A"].failures == 2
        assert stored.reported == {"g1"}
        await save_cycle_memory(state, policy, {}, None)
        assert (await load_cycle_memory(state)).reported is None
    finally:
        state.close()


async def test_a_daemon_of_the_previous_version_left_zero_demand_rows_only(
    tmp_path: Path,
) -> None:
    state = StateDB.open(tmp_path / "state.db")
    try:
        await state.put_json(POLICY_KEY, [["main", "A", 5]])
        stored = await load_cycle_memory(state)
        assert dict(stored.memory.policy.zero_demand_cycles) == {("main", "A"): 5}
        assert dict(stored.memory.policy.idle_demand) == {}
        assert stored.reported is None
    finally:
        state.close()


def test_plan_reads_nothing_where_no_daemon_ran(tmp_path: Path) -> None:
    assert stored_cycle(tmp_path / "nothing") is None
    state = StateDB.open(tmp_path / "state.db")
    anyio.run(save_cycle_memory, state, PolicyMemory(), {"1.0": 1}, [])
    state.close()
    stored = stored_cycle(tmp_path)
    assert stored is not None
    assert dict(stored.memory.removal_cycles) == {"1.0": 1}


async def test_removal_cycles_of_a_version_with_one_factory_schedd_are_the_first_ones(
    tmp_path: Path,
) -> None:
    state = StateDB.open(tmp_path / "state.db")
    try:
        await save_cycle_memory(state, PolicyMemory(), {"7.0": 4, "8.0@fs2": 2}, None)
        stored = await load_cycle_memory(state, "fs1")
        assert dict(stored.memory.removal_cycles) == {"7.0@fs1": 4, "8.0@fs2": 2}
    finally:
        state.close()
