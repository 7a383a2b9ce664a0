"""What to do with glideins that are held, stale, draining or stuck in removal (DESIGN §6).

Pure: glideins, config, health and the time in; release and removal requests out.

- held, recoverable: release after `NumSystemHolds × 5 min`, at most `release_per_cycle`
  per entry, oldest first; held more than 10 times (10 releases done): remove;
- held, unrecoverable (see `UNRECOVERABLE_HOLD_CODES`): remove;
- idle longer than 7 days, running longer than 31 days: remove;
- draining entries: remove idle and held glideins (hard drain: running ones too);
- entries (or a group at an entry) in a scheduled downtime: remove idle glideins;
- a glidein still in the queue as removed after 20 cycles: removex (forcex).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from aglidein.config import Config
from aglidein.core.downtime import in_force
from aglidein.core.limits import Headroom
from aglidein.core.model import (
    Downtime,
    EntryHealth,
    Glidein,
    GlideinCensus,
    GlideinState,
    OperatorState,
    ReleaseRequest,
    RemoveRequest,
)
from aglidein.core.policy_census import CensusCounts

__all__ = [
    "FORCEX_AFTER_CYCLES",
    "MAX_RELEASES",
    "PILOT_EXIT_CODES",
    "RELEASE_DELAY_PER_HOLD",
    "STALE_IDLE",
    "STALE_RUNNING",
    "UNRECOVERABLE_HOLD_CODES",
    "LifecycleActions",
    "after_releases",
    "cap_releases",
    "count_removal_cycles",
    "exit_reason",
    "pilot_exit_code",
    "plan_lifecycle",
]

RELEASE_DELAY_PER_HOLD = 300.0
MAX_RELEASES = 10
STALE_IDLE = 7 * 86400.0
STALE_RUNNING = 31 * 86400.0
FORCEX_AFTER_CYCLES = 20

# HoldReasonCode values a release cannot fix: held by a person (1), a job policy
# expression (3, 26), a bad credential (4), missing input files such as the glidein's
# token files (8, 10, 14), submitted on hold (15), no user log (22), inputs too large (30).
UNRECOVERABLE_HOLD_CODES = frozenset({1, 3, 4, 8, 10, 14, 15, 22, 26, 30})

# The pilot's exit codes and their reasons. glidein_startup.sh's EXIT_CODES table must
# say the same (tests/glidein/test_exit_codes.py runs the script to compare).
PILOT_EXIT_CODES: Mapping[int, str] = MappingProxyType(
    {
        0: "ok",
        2: "bad_arguments",
        10: "validation_failed",
        11: "condor_failed",
        12: "black_hole",
        13: "signalled",
    }
)


def pilot_exit_code(reason: str) -> int:
    """The pilot's exit code for `reason` (KeyError for a reason the pilot has no code for)."""
    for code, name in PILOT_EXIT_CODES.items():
        if name == reason:
            return code
    raise KeyError(f"the pilot has no exit code for reason {reason!r}")


def exit_reason(exit_code: int | None, signal: int | None = None, *, removed: bool = False) -> str:
    """The `reason` label of `aglidein_glidein_exits_total` for a glidein's end
    (`removed`: the job was aborted, by condor_rm or a policy, not ended by the pilot)."""
    if removed:
        return "removed"
    if signal is not None:
        return "signalled"
    if exit_code is None:
        return "other"
    return PILOT_EXIT_CODES.get(exit_code, "other")


@dataclass(frozen=True, slots=True)
class LifecycleActions:
    """Releases and removals decided for this cycle."""

    releases: tuple[ReleaseRequest, ...] = ()
    removals: tuple[RemoveRequest, ...] = ()


def count_removal_cycles(
    previous: Mapping[str, int], glideins: Iterable[Glidein]
) -> dict[str, int]:
    """Cycles each glidein has been seen in the removed state (`Glidein.key` -> count)."""
    return {g.key: previous.get(g.key, 0) + 1 for g in glideins if g.state is GlideinState.REMOVED}


def plan_lifecycle(
    config: Config,
    glideins: Sequence[Glidein],
    now: float,
    *,
    health: Mapping[str, EntryHealth] | None = None,
    removal_cycles: Mapping[str, int] | None = None,
    downtimes: Sequence[Downtime] = (),
) -> LifecycleActions:
    """Releases and removals for held, stale, draining, in-downtime and stuck glideins."""
    health = health or {}
    removal_cycles = removal_cycles or {}
    by_entry: dict[str, list[Glidein]] = defaultdict(list)
    for glidein in glideins:
        by_entry[glidein.entry].append(glidein)
    releases: list[ReleaseRequest] = []
    removals: list[RemoveRequest] = []
    for entry in sorted(by_entry):
        entry_health = health.get(entry)
        draining = entry_health is not None and entry_health.operator is OperatorState.DRAINING
        hard = draining and entry_health is not None and entry_health.drain_hard
        release_cap = _release_per_cycle(config, entry)
        remove: dict[str, list[str]] = defaultdict(list)
        forcex: list[str] = []
        ready: list[Glidein] = []
        for g in by_entry[entry]:
            reason = _removal_reason(g, now, draining=draining, hard=hard)
            if (
                reason is None
                and g.state is GlideinState.IDLE
                and in_force(downtimes, g.entry, g.group, now) is not None
            ):
                reason = "downtime"
            if g.state is GlideinState.REMOVED:
                if removal_cycles.get(g.key, 0) >= FORCEX_AFTER_CYCLES:
                    forcex.append(g.key)
            elif reason is not None:
                remove[reason].append(g.key)
            elif (
                g.state is GlideinState.HELD
                and now - g.entered_state >= max(g.num_system_holds, 1) * RELEASE_DELAY_PER_HOLD
            ):
                ready.append(g)
        for reason in sorted(remove):
            removals.append(
                RemoveRequest(entry=entry, job_ids=tuple(remove[reason]), reason=reason)
            )
        if forcex:
            removals.append(
                RemoveRequest(entry=entry, job_ids=tuple(forcex), reason="forcex", force=True)
            )
        ready.sort(key=lambda g: (g.entered_state, g.cluster, g.proc))
        if ready[:release_cap]:
            releases.append(
                ReleaseRequest(
                    entry=entry,
                    job_ids=tuple(g.key for g in ready[:release_cap]),
                    reason="recoverable_hold",
                )
            )
    return LifecycleActions(releases=tuple(releases), removals=tuple(removals))


def cap_releases(
    config: Config, glideins: Sequence[Glidein], releases: Sequence[ReleaseRequest]
) -> tuple[ReleaseRequest, ...]:
    """Releases that fit under the idle limits: a released glidein is idle again.

    They go before new submissions (these glideins exist already); every `max_idle` and
    `max_running` row of `core.limits.LIMITS` is counted like the policy counts it (idle
    and running glideins: held ones are not in `max_running`, so a release adds one).
    """
    by_id = {g.key: g for g in glideins}
    headroom = Headroom(config, CensusCounts.of(GlideinCensus(glideins=tuple(glideins))))

    kept: list[ReleaseRequest] = []
    for release in releases:
        ids: list[str] = []
        for job_id in release.job_ids:
            g = by_id.get(job_id)
            if g is None or not headroom.releasable(g.group, g.entry):
                continue
            ids.append(job_id)
            headroom.add(g.group, g.entry, idle=1, held=-1 if g.state is GlideinState.HELD else 0)
        if ids:
            kept.append(dataclasses.replace(release, job_ids=tuple(ids)))
    return tuple(kept)


def after_releases(census: GlideinCensus, releases: Sequence[ReleaseRequest]) -> GlideinCensus:
    """The census as it will be once `releases` are done (released glideins idle)."""
    released = {j for r in releases for j in r.job_ids}
    if not released:
        return census
    glideins = tuple(
        dataclasses.replace(g, state=GlideinState.IDLE) if g.key in released else g
        for g in census.glideins
    )
    return dataclasses.replace(census, glideins=glideins)


def _removal_reason(g: Glidein, now: float, *, draining: bool, hard: bool) -> str | None:
    if g.state is GlideinState.HELD:
        if g.hold_reason_code in UNRECOVERABLE_HOLD_CODES:
            return "held_unrecoverable"
        if g.num_system_holds > MAX_RELEASES:
            return "held_too_often"
        return "drain" if draining else None
    if g.state is GlideinState.IDLE:
        if now - g.entered_state > STALE_IDLE:
            return "stale_idle"
        return "drain" if draining else None
    if g.state is GlideinState.RUNNING:
        started = g.job_start if g.job_start is not None else g.entered_state
        if now - started > STALE_RUNNING:
            return "stale_running"
        return "drain" if hard else None
    return None


def _release_per_cycle(config: Config, entry: str) -> int:
    try:
        return config.entry(entry).effective_submit(config.factory).release_per_cycle
    except KeyError:  # an entry no longer in the config: factory defaults
        return config.factory.submit.release_per_cycle
