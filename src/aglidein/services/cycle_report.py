"""What one cycle shows: the `/api/v1/status` board and the cycle's metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from aglidein.config import Config
from aglidein.core.health import effective_state
from aglidein.core.model import (
    LIMIT_REASONS,
    Decision,
    DemandSnapshot,
    Downtime,
    EntryHealth,
    GlideinCensus,
    GlideinState,
    HealthState,
    Plan,
    SlotActivity,
)
from aglidein.services.downtimes import downtime_json
from aglidein.services.metrics import Metrics
from aglidein.services.provisioner import EntryOutcome
from aglidein.services.runtime import EntryStatus, PoolSourceStatus, Runtime, ScheddStatus

__all__ = ["publish_cycle", "record_plan"]

_STATES = [s.value for s in GlideinState]


def publish_cycle(
    runtime: Runtime,
    config: Config,
    demand: DemandSnapshot,
    census: GlideinCensus,
    plan: Plan,
    health: Mapping[str, EntryHealth],
    outcomes: Mapping[str, EntryOutcome],
    now: float,
    duration: float,
    downtimes: Sequence[Downtime] = (),
) -> None:
    """Update the status board and metrics from one cycle's results."""
    status = runtime.status
    metrics = runtime.metrics
    status.cycle.duration_s = round(duration, 3)
    metrics.cycle_duration.observe(duration)
    metrics.cycles.labels(result="frozen" if plan.frozen else "success").inc()
    metrics.collector_up.set(1 if census.collector_ok else 0)
    status.schedds = [
        ScheddStatus(
            name=s.schedd,
            group=s.group,
            ok=s.ok,
            stale_cycles=s.stale_cycles,
            last_error=s.last_error,
        )
        for s in demand.schedds
    ]
    _publish_pool(runtime, config, census, now)
    status.sync_entries(config)
    by_state: dict[str, Counter[str]] = {}
    for glidein in census.glideins:
        by_state.setdefault(glidein.entry, Counter())[glidein.state.value] += 1
    black_holes = Counter(s.entry for s in census.slots if s.activity is SlotActivity.BLACK_HOLE)
    for entry in config.entries:
        name = entry.name
        state = effective_state(config, health.get(name), name, now)
        entry_health = health.get(name)
        backoff_until = entry_health.backoff_until if entry_health else None
        counts = by_state.get(name, Counter())
        board = status.entries.setdefault(name, EntryStatus(name=name))
        board.health = state.value
        board.backoff_until = backoff_until if state is HealthState.BACKOFF else None
        if census.factory_ok:
            board.glideins = {
                "idle": counts["idle"],
                "running": counts["running"],
                "held": counts["held"],
                "black_hole": black_holes[name],
            }
            if config.migration.gwms_factory is not None:  # side by side with GlideinWMS
                board.glideins["old_factory"] = census.old_glideins.get(name, 0)
            for value in _STATES:
                metrics.glideins.labels(entry=name, state=value).set(counts[value])
        board.decisions = [_decision_row(d) for d in plan.for_entry(name)]
        board.downtime = _entry_downtime(downtimes, name, now)
        for value in HealthState:
            metrics.entry_health.labels(entry=name, state=value.value).set(
                1 if value is state else 0
            )
        left = max(0.0, (backoff_until or now) - now) if state is HealthState.BACKOFF else 0.0
        metrics.entry_backoff.labels(entry=name).set(left)
        outcome = outcomes.get(name)
        if outcome is not None and outcome.skipped:
            board.decisions.append({"skipped": sorted(set(outcome.skipped))})
    record_plan(metrics, plan)


def _entry_downtime(downtimes: Sequence[Downtime], entry: str, now: float) -> dict[str, Any] | None:
    """The downtime in force for an entry, whichever group it is for (earliest started)."""
    found = [d for d in downtimes if d.active(now) and d.entry in (None, entry)]
    if not found:
        return None
    return downtime_json(min(found, key=lambda d: (d.start, d.id)), now)


def _publish_pool(runtime: Runtime, config: Config, census: GlideinCensus, now: float) -> None:
    """The collector and factory schedd rows: reachable at the last poll, and when. The
    first factory schedd is `factory_schedd`, any other `factory_schedd:NAME`."""
    polled = census.taken_at or now
    rows = [("collector", config.pool.collector, census.collector_ok, census.collector_error)]
    for index, name in enumerate(config.pool.schedds):
        error = census.stale_schedds.get(name)
        key = "factory_schedd" if index == 0 else f"factory_schedd:{name}"
        rows.append((key, name, error is None, error))
    for key in [k for k in runtime.status.pool if k.startswith("factory_schedd:")]:
        if key not in {row[0] for row in rows}:
            del runtime.status.pool[key]  # a schedd the reloaded config no longer lists
    for key, name, ok, error in rows:
        before = runtime.status.pool.get(key)
        last_ok = polled if ok else (before.last_ok if before and before.name == name else None)
        runtime.status.pool[key] = PoolSourceStatus(
            name=name,
            ok=ok,
            last_poll=polled,
            last_ok=last_ok,
            last_error=None if ok else (error or "no answer"),
            cycle_s=config.factory.cycle,
        )


def _decision_row(decision: Decision) -> dict[str, Any]:
    return decision.as_dict()


def record_plan(metrics: Metrics, plan: Plan) -> None:
    """Export a plan's decisions: idle demand, requests, and what limited them."""
    for d in plan.decisions:
        labels = {"group": d.group, "entry": d.entry}
        metrics.idle_jobs.labels(**labels).set(d.matching_jobs)
        metrics.running_jobs.labels(**labels).set(d.running_jobs)
        metrics.requested_idle.labels(**labels).set(d.requested_idle)
        metrics.max_glideins.labels(**labels).set(d.max_glideins)
        for reason in d.limited_by:
            metrics.decisions_limited.labels(**labels, reason=reason).inc()
        for reason in LIMIT_REASONS:
            metrics.decision_limited_now.labels(**labels, reason=reason).set(
                1 if reason in d.limited_by else 0
            )
