"""The decision cycle (DESIGN §2): every `factory.cycle`, poll → decide → act.

`Poller.poll` gives demand and the glidein census; `core.cycle.plan_cycle` (the same
function `aglidein plan` calls) backs troubled entries off, adds the lifecycle's
releases and removals and decides; the provisioner acts. Entry health (backoff,
operator state) and what the policy remembers live in the state DB, so they survive a
restart; so do scheduled downtimes, read from it at the start of every cycle (a failed
read fails the cycle: nothing is submitted onto an entry that may be down). Results go to the status board and metrics.

Once the provisioner has acted, nothing may discard what it did: each bookkeeping step
after it (exit scan, token pruning, saving health and memory, the status board) fails
alone, is logged and counted (`aglidein_cycle_step_failures_total{reason}`), and the
others still run; health that could not be saved is saved again next cycle.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Protocol

import anyio
import anyio.abc
import structlog

from aglidein.condor.api import Pool
from aglidein.config import Config
from aglidein.core.cycle import CycleMemory, CyclePlan, Decide, plan_cycle, silent_candidates
from aglidein.core.health import (
    SUBMIT_FAILED,
    effective_state,
    record_failure,
    record_success,
    with_operator,
)
from aglidein.core.model import (
    CredentialState,
    DemandSnapshot,
    EntryHealth,
    GlideinCensus,
    OperatorState,
    Plan,
    PolicyMemory,
)
from aglidein.errors import AglideinError
from aglidein.services.cycle_memory import load_cycle_memory, save_cycle_memory
from aglidein.services.cycle_report import publish_cycle
from aglidein.services.downtimes import refresh_board
from aglidein.services.exits import ExitWatcher
from aglidein.services.glidein_logs.stderr import OutputFiles
from aglidein.services.history import CycleFacts, HistoryRecorder
from aglidein.services.provisioner import EntryOutcome, Provisioner
from aglidein.services.runtime import Runtime
from aglidein.state import StateDB

__all__ = ["CycleService", "Decide", "PollerLike", "Reported", "stored_health"]

log = structlog.get_logger()
_BATCH_RETENTION = 7 * 86400.0
_DOWNTIME_RETENTION = 30 * 86400.0  # `downtime list --all` shows a month of history
# What a failing bookkeeping step may raise: the disk, the state DB, the log store.
_STEP_ERRORS = (OSError, AglideinError)


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
        history: HistoryRecorder | None = None,
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
        self.history = history  # the status pages' time series, fed every cycle
        self._exits: dict[str, Counter[str]] = {}  # ends read by this cycle's exit scan
        self.health: dict[str, EntryHealth] = {}
        self.memory = PolicyMemory()
        self.cycle = 0
        self.last_plan: Plan | None = None
        self._removal_cycles: Mapping[str, int] = {}
        self._unsaved: set[str] = set()  # entries whose health the state DB has not got
        self._loaded = False
        self._stop = anyio.Event()
        self._lock = anyio.Lock()  # one cycle at a time

    # --- lifecycle of the service ------------------------------------------------------

    async def load(self) -> None:
        """Read entry health, policy memory and removal cycles from the state DB."""
        if self._loaded:
            return
        stored = await load_cycle_memory(self.runtime.state, self.runtime.config().pool.schedds[0])
        self.health = dict(stored.memory.health)
        self.memory = stored.memory.policy
        self._removal_cycles = stored.memory.removal_cycles
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
            wait = self.runtime.config().factory.cycle - (time.monotonic() - started)
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
        config = runtime.config()
        self.cycle += 1
        started = time.monotonic()
        runtime.status.cycle.number = self.cycle
        runtime.status.cycle.started = runtime.clock.now()
        demand, census = await self.poller.poll(self.cycle)
        now = runtime.clock.now()
        runtime.roster.observe(census, now)
        reported = (
            await self._reported() if self._reported is not None and census.factory_ok else None
        )
        if self.outputs is not None:  # before submitting: see services.glidein_logs.stderr
            await self._step("stderr_collect", self.outputs.collect(census))
        # read each cycle: a downtime added or ended through the API acts from the next one
        downtimes = await refresh_board(runtime, now)
        planned = plan_cycle(
            config,
            demand,
            census,
            self._credentials(),
            CycleMemory(self.health, self.memory, self._removal_cycles),
            now,
            reported=reported,
            cycle=self.cycle,
            decide_with=self.decide,
            downtimes=downtimes,
        )
        changed = self._take_trouble(planned)
        acted = planned.plan
        outcomes = await self.provisioner.act(acted, self.health, planned.census)
        # --- from here on, what was done is kept whatever fails -------------------------
        changed |= self._apply_outcomes(config, outcomes, now)
        self.memory = acted.memory
        self._removal_cycles = planned.removal_cycles
        self.last_plan = acted
        self._unsaved |= changed
        await self._bookkeeping(census, reported, now)
        duration = time.monotonic() - started
        await self._step(
            "status_publish",
            lambda: publish_cycle(
                runtime,
                config,
                demand,
                census,
                acted,
                self.health,
                outcomes,
                now,
                duration,
                downtimes,
            ),
        )
        if self.history is not None:
            facts = CycleFacts(demand, census, acted, outcomes, self._exits)
            await self._step("history_record", self.history.record(config, facts, now))
        log.info(
            "cycle.done",
            cycle=self.cycle,
            duration_s=round(duration, 3),
            submitted=sum(o.submitted for o in outcomes.values()),
            removed=sum(o.removed for o in outcomes.values()),
            released=sum(o.released for o in outcomes.values()),
        )
        return acted

    def _take_trouble(self, planned: CyclePlan) -> set[str]:
        """Adopt the health the plan started from: new entries, this cycle's backoffs."""
        for entry, health in planned.health.items():
            if entry not in self.health:
                self.health[entry] = health
        for entry, reason in planned.troubled.items():
            self.health[entry] = planned.health[entry]
            self._log_backoff(entry, reason)
        return set(planned.troubled)

    async def _bookkeeping(
        self, census: GlideinCensus, reported: set[str] | None, now: float
    ) -> None:
        """Everything after acting; each step fails alone (see the module docstring)."""
        state = self.runtime.state
        config = self.runtime.config()
        self._exits = {}
        if self.exits is not None:
            await self._step("exit_scan", self._scan_exits(config))
        await self._step("token_prune", self.provisioner.prune_tokens(census))
        for name in sorted(self._unsaved):
            if await self._step("health_save", state.save_health(self.health[name])):
                self._unsaved.discard(name)
        # of who posted records, entry health looks only at running glideins without a slot
        kept = None if reported is None else silent_candidates(census) & reported
        await self._step(
            "memory_save", save_cycle_memory(state, self.memory, self._removal_cycles, kept)
        )
        if self.cycle % 100 == 1:  # finished batches are only kept for a while
            await self._step("batch_prune", state.prune_batches(now - _BATCH_RETENTION))
            await self._step("downtime_prune", state.prune_downtimes(now - _DOWNTIME_RETENTION))

    async def _scan_exits(self, config: Config) -> None:
        assert self.exits is not None
        self._exits = await self.exits.scan((e.name for e in config.entries), config.pool.schedds)

    async def _step(self, reason: str, work: Awaitable[object] | Callable[[], object]) -> bool:
        """Do one bookkeeping step; a failure is logged and counted. True if it worked."""
        try:
            if callable(work):
                work()
            else:
                await work
        except _STEP_ERRORS as exc:
            self.runtime.metrics.cycle_step_failures.labels(reason=reason).inc()
            log.error("cycle.step_failed", cycle=self.cycle, step=reason, error=str(exc))
            return False
        return True

    def _fail(self, config: Config, entry: str, now: float, reason: str) -> None:
        current = self.health.get(entry) or EntryHealth(entry=entry)
        self.health[entry] = record_failure(current, now, reason, config.factory.backoff)
        self._log_backoff(entry, reason)

    def _log_backoff(self, entry: str, reason: str) -> None:
        health = self.health[entry]
        log.warning(
            "entry.backoff",
            entry=entry,
            reason=reason,
            until=health.backoff_until,
            failures=health.failures,
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
        config = self.runtime.config()
        state = effective_state(config, updated, entry, self.runtime.clock.now())
        status = self.runtime.status.entries.get(entry)
        if status is not None:
            status.health = state.value
            status.backoff_until = updated.backoff_until
        log.info("entry.operator", entry=entry, operator=operator.value, hard=hard)
        return self.health[entry]
