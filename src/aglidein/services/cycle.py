"""The decision cycle (DESIGN §2): every `factory.cycle`, poll → decide → act.

`Poller.poll` gives demand and the glidein census; `decide` the Plan; the lifecycle
rules add releases and removals of held, stale, draining and stuck glideins; the
provisioner acts. Entry health (backoff, operator state) and the policy's memory live
in the state DB, so they survive a restart. Results go to the status board and metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import anyio
import anyio.abc
import structlog

from aglidein.condor.api import Pool
from aglidein.config import Config
from aglidein.core.health import (
    SUBMIT_FAILED,
    assess_entries,
    effective_state,
    record_failure,
    record_success,
    with_operator,
)
from aglidein.core.lifecycle import (
    LifecycleActions,
    after_releases,
    cap_releases,
    count_removal_cycles,
    plan_lifecycle,
)
from aglidein.core.model import (
    CredentialState,
    CycleInputs,
    DemandSnapshot,
    EntryHealth,
    GlideinCensus,
    OperatorState,
    Plan,
    PolicyMemory,
)
from aglidein.runtime import Runtime
from aglidein.services.cycle_report import publish_cycle
from aglidein.services.exits import ExitWatcher
from aglidein.services.glidein_stderr import OutputFiles
from aglidein.services.provisioner import EntryOutcome, Provisioner
from aglidein.state import StateDB

__all__ = ["CycleService", "Decide", "PollerLike", "Reported", "stored_health"]

log = structlog.get_logger()
_MEMORY_KEY = "policy_memory"
_BATCH_RETENTION = 7 * 86400.0


def stored_health(state_dir: Path) -> dict[str, EntryHealth]:
    """Entry health as a daemon left it in `state_dir` (for `aglidein plan`); {} if none.

    Synchronous: for commands, not for code running in the event loop.
    """
    path = state_dir / "state.db"
    if not path.exists():
        return {}
    state = StateDB.open(path)
    try:
        return anyio.run(state.load_health)
    finally:
        state.close()


class PollerLike(Protocol):
    """What the cycle needs from the poller."""

    async def poll(self, cycle: int) -> tuple[DemandSnapshot, GlideinCensus]: ...


Decide = Callable[[Config, CycleInputs, float], Plan]
Reported = Callable[[], Awaitable[set[str]]]
Credentials = Callable[[], Mapping[str, CredentialState]]


class CycleService:
    """Runs decision cycles until stopped; owns entry health."""

    name = "cycle"

    def __init__(
        self,
        runtime: Runtime,
        poller: PollerLike,
        decide: Decide,
        provisioner: Provisioner,
        exits: ExitWatcher | None = None,
        *,
        reported: Reported | None = None,
        credentials: Credentials | None = None,
        pool: Pool | None = None,
        outputs: OutputFiles | None = None,
    ) -> None:
        self.runtime = runtime
        self.poller = poller
        self.decide = decide
        self.provisioner = provisioner
        self.exits = exits
        self._reported = reported
        self._credentials = credentials or (lambda: {})
        self._pool = pool  # closed when the service stops
        self.outputs = outputs
        self.health: dict[str, EntryHealth] = {}
        self.memory = PolicyMemory()
        self.cycle = 0
        self.last_plan: Plan | None = None
        self._removal_cycles: dict[str, int] = {}
        self._loaded = False
        self._stop = anyio.Event()
        self._lock = anyio.Lock()  # one cycle at a time

    # --- lifecycle of the service ------------------------------------------------------

    async def load(self) -> None:
        """Read entry health and policy memory from the state DB."""
        if self._loaded:
            return
        self.health = await self.runtime.state.load_health()
        stored = await self.runtime.state.get_json(_MEMORY_KEY)
        if isinstance(stored, list):
            self.memory = PolicyMemory(
                zero_demand_cycles=MappingProxyType(
                    {(str(g), str(e)): int(n) for g, e, n in stored}
                )
            )
        self._loaded = True

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Cycle every `factory.cycle` until `stop()`."""
        await self.load()
        await self.provisioner.prepare()
        task_status.started()
        try:
            await self._loop()
        finally:
            if self._pool is not None:
                with anyio.CancelScope(shield=True):
                    await self._pool.aclose()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self.run_cycle()
            except Exception as exc:  # a broken cycle must not stop the next one
                self.runtime.metrics.cycles.labels(result="failure").inc()
                log.exception("cycle.failed", cycle=self.cycle, error=str(exc))
            wait = self.runtime.config.current.factory.cycle - (time.monotonic() - started)
            with anyio.move_on_after(max(wait, 0.0)):
                await self._stop.wait()

    async def stop(self) -> None:
        """Let the cycle in progress finish, start no new one."""
        self._stop.set()

    # --- one cycle ---------------------------------------------------------------------

    async def run_cycle(self) -> Plan:
        """Poll, decide, act once; the plan that was acted on."""
        await self.load()
        async with self._lock:
            return await self._cycle()

    async def _cycle(self) -> Plan:
        runtime = self.runtime
        config = runtime.config.current
        self.cycle += 1
        started_wall = runtime.clock.now()
        started = time.monotonic()
        runtime.status.cycle.number = self.cycle
        runtime.status.cycle.started = started_wall
        demand, census = await self.poller.poll(self.cycle)
        now = runtime.clock.now()
        for entry_config in config.entries:
            self.health.setdefault(entry_config.name, EntryHealth(entry=entry_config.name))
        changed: set[str] = set()
        if census.factory_ok:
            self._removal_cycles = count_removal_cycles(self._removal_cycles, census.glideins)
            reported = await self._reported() if self._reported is not None else None
            if census.collector_ok:
                for entry, reason in assess_entries(
                    config, self.health, census.glideins, census.slots, now, reported=reported
                ).items():
                    self._fail(config, entry, now, reason)
                    changed.add(entry)
        if self.outputs is not None:  # before submitting: see services.glidein_stderr
            await self.outputs.collect(census)
        lifecycle = (
            plan_lifecycle(
                config,
                census.glideins,
                now,
                health=self.health,
                removal_cycles=self._removal_cycles,
            )
            if census.factory_ok
            else LifecycleActions()
        )
        releases = cap_releases(config, census.glideins, lifecycle.releases)
        lifecycle = dataclasses.replace(lifecycle, releases=releases)
        # decide on the pool as it will be once released glideins are idle again
        released = after_releases(census, releases)
        inputs = CycleInputs(
            demand=demand,
            census=released,
            health=MappingProxyType(dict(self.health)),
            credentials=MappingProxyType(dict(self._credentials())),
            memory=self.memory,
            cycle=self.cycle,
        )
        plan = self.decide(config, inputs, now)
        acted = _with_lifecycle(plan, lifecycle)
        outcomes = await self.provisioner.act(acted, self.health, released)
        changed |= self._apply_outcomes(config, outcomes, now)
        if self.exits is not None:
            await self.exits.scan(e.name for e in config.entries)
        for name in sorted(changed):
            await runtime.state.save_health(self.health[name])
        self.memory = plan.memory
        if self.cycle % 100 == 1:  # finished batches are only kept for a while
            await runtime.state.prune_batches(now - _BATCH_RETENTION)
        await runtime.state.put_json(
            _MEMORY_KEY, [[g, e, n] for (g, e), n in sorted(self.memory.zero_demand_cycles.items())]
        )
        self.last_plan = acted
        duration = time.monotonic() - started
        publish_cycle(runtime, config, demand, census, acted, self.health, outcomes, now, duration)
        log.info(
            "cycle.done",
            cycle=self.cycle,
            duration_s=round(duration, 3),
            submitted=sum(o.submitted for o in outcomes.values()),
            removed=sum(o.removed for o in outcomes.values()),
            released=sum(o.released for o in outcomes.values()),
        )
        return acted

    def _fail(self, config: Config, entry: str, now: float, reason: str) -> None:
        current = self.health.get(entry) or EntryHealth(entry=entry)
        self.health[entry] = record_failure(current, now, reason, config.factory.backoff)
        log.warning(
            "entry.backoff",
            entry=entry,
            reason=reason,
            until=self.health[entry].backoff_until,
            failures=self.health[entry].failures,
        )

    def _apply_outcomes(
        self, config: Config, outcomes: Mapping[str, EntryOutcome], now: float
    ) -> set[str]:
        changed: set[str] = set()
        for entry, outcome in outcomes.items():
            if outcome.submit_error is not None:
                self._fail(config, entry, now, SUBMIT_FAILED)
                changed.add(entry)
            elif outcome.submitted:
                current = self.health.get(entry) or EntryHealth(entry=entry)
                updated = record_success(current, now, config.factory.backoff)
                if updated != current:
                    self.health[entry] = updated
                    changed.add(entry)
        return changed

    # --- operator actions --------------------------------------------------------------

    async def set_operator(
        self, entry: str, operator: OperatorState, *, hard: bool = False
    ) -> EntryHealth:
        """Enable, disable or drain an entry; persisted at once."""
        await self.load()
        # No waiting for a cycle in progress: the change is made without an await in
        # between, so a cycle updating the same entry builds on it; the provisioner
        # reads entry health when it acts.
        current = self.health.get(entry) or EntryHealth(entry=entry)
        updated = with_operator(current, operator, hard=hard)
        if operator is OperatorState.ENABLED:
            updated = dataclasses.replace(updated, backoff_until=None, failures=0)
        self.health[entry] = updated
        await self.runtime.state.save_health(updated)
        config = self.runtime.config.current
        state = effective_state(config, updated, entry, self.runtime.clock.now())
        status = self.runtime.status.entries.get(entry)
        if status is not None:
            status.health = state.value
            status.backoff_until = updated.backoff_until
        log.info("entry.operator", entry=entry, operator=operator.value, hard=hard)
        return self.health[entry]


def _with_lifecycle(plan: Plan, lifecycle: LifecycleActions) -> Plan:
    """The plan plus lifecycle actions; a glidein is acted on once (the plan's first)."""
    planned = {j for r in plan.removals for j in r.job_ids}
    removals = list(plan.removals)
    for request in lifecycle.removals:
        ids = tuple(j for j in request.job_ids if j not in planned)
        if ids:
            removals.append(dataclasses.replace(request, job_ids=ids))
            planned.update(ids)
    released = {j for r in plan.releases for j in r.job_ids}
    releases = list(plan.releases)
    for release in lifecycle.releases:
        ids = tuple(j for j in release.job_ids if j not in released and j not in planned)
        if ids:
            releases.append(dataclasses.replace(release, job_ids=ids))
    return dataclasses.replace(plan, removals=tuple(removals), releases=tuple(releases))
