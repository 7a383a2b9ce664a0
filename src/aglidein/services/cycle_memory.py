"""What one cycle leaves for the next, in the state DB: the daemon writes it, `plan` reads it.

Entry health has its own table (`StateDB.save_health`); the rest are small JSON values:
the policy's memory, how many cycles removed glideins have lingered, and which of the
glideins that run without a startd slot had posted log records (the part of the log
store's answer that entry health looks at, so `plan` judges them as the daemon did).
The operator's scheduled downtimes come along, so `plan` cuts what the daemon cuts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anyio

from aglidein.core.cycle import CycleMemory
from aglidein.core.model import Downtime, PolicyMemory
from aglidein.state import StateDB

__all__ = ["StoredCycle", "load_cycle_memory", "save_cycle_memory", "stored_cycle"]

POLICY_KEY = "policy_memory"
REMOVAL_KEY = "removal_cycles"
REPORTED_KEY = "reported_glideins"


@dataclass(frozen=True, slots=True)
class StoredCycle:
    """The memory a daemon left, and the glideins it last knew had posted records."""

    memory: CycleMemory
    reported: frozenset[str] | None  # None: no daemon cycle stored it
    downtimes: tuple[Downtime, ...] = ()


async def load_cycle_memory(state: StateDB, first_schedd: str = "") -> StoredCycle:
    """Health, policy memory, removal cycles, reported glideins, downtimes: the state DB.

    Removal cycles stored by a version before several factory schedds are keyed by
    `cluster.proc`: they are the first schedd's (`first_schedd`) glideins."""
    health = await state.load_health()
    policy = _policy(await state.get_json(POLICY_KEY))
    removal = await state.get_json(REMOVAL_KEY)
    reported = await state.get_json(REPORTED_KEY)
    return StoredCycle(
        memory=CycleMemory(
            health=MappingProxyType(health),
            policy=policy,
            removal_cycles=MappingProxyType(
                {_qualified(str(k), first_schedd): int(v) for k, v in removal.items()}
                if isinstance(removal, dict)
                else {}
            ),
        ),
        reported=frozenset(str(g) for g in reported) if isinstance(reported, list) else None,
        downtimes=tuple(await state.load_downtimes()),
    )


def _qualified(key: str, schedd: str) -> str:
    return f"{key}@{schedd}" if schedd and "@" not in key else key


async def save_cycle_memory(
    state: StateDB,
    policy: PolicyMemory,
    removal_cycles: Mapping[str, int],
    reported: Collection[str] | None,
) -> None:
    """Store what `load_cycle_memory` reads, except health (saved entry by entry).

    `reported`: None when the daemon does not know who posted records (no log store).
    """
    await state.put_json(
        POLICY_KEY,
        {
            "zero_demand_cycles": _rows(policy.zero_demand_cycles),
            "idle_demand": _rows(policy.idle_demand),
        },
    )
    await state.put_json(REMOVAL_KEY, dict(sorted(removal_cycles.items())))
    await state.put_json(REPORTED_KEY, None if reported is None else sorted(reported))


def stored_cycle(state_dir: Path) -> StoredCycle | None:
    """What a daemon left in `state_dir` (for `aglidein plan`); None when there is no DB.

    Synchronous: for commands, not for code running in the event loop.
    """
    path = state_dir / "state.db"
    if not path.exists():
        return None
    state = StateDB.open(path)
    try:
        return anyio.run(load_cycle_memory, state)
    finally:
        state.close()


def _rows(counts: Mapping[tuple[str, str], int]) -> list[list[Any]]:
    return [[g, e, n] for (g, e), n in sorted(counts.items())]


def _pairs(rows: Any) -> Mapping[tuple[str, str], int]:
    if not isinstance(rows, list):
        return MappingProxyType({})
    return MappingProxyType({(str(g), str(e)): int(n) for g, e, n in rows})


def _policy(stored: Any) -> PolicyMemory:
    if isinstance(stored, list):  # before idle_demand was kept: zero-demand rows only
        return PolicyMemory(zero_demand_cycles=_pairs(stored))
    if isinstance(stored, dict):
        return PolicyMemory(
            zero_demand_cycles=_pairs(stored.get("zero_demand_cycles")),
            idle_demand=_pairs(stored.get("idle_demand")),
        )
    return PolicyMemory()
