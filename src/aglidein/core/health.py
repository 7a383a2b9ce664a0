"""Entry health: exponential backoff on trouble, operator state (DESIGN §1, §5).

Pure: an `EntryHealth` and the time in, a new `EntryHealth` out. Trouble is a failed
submission, a hold storm, or glideins that never report (no startd slot and no log
record within `glidein.report_timeout` of starting). The backoff after the n-th
consecutive failure is `initial × 2^(n-1)`, at most `max`; a success after `reset_after`
without failures starts the count again.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

from aglidein.config import BackoffSettings, Config
from aglidein.core.model import (
    EntryHealth,
    Glidein,
    GlideinState,
    HealthState,
    OperatorState,
    Slot,
)
from aglidein.gridtypes import gridtype

__all__ = [
    "HOLD_STORM",
    "NEVER_REPORTED",
    "SUBMIT_FAILED",
    "assess_entries",
    "backoff_delay",
    "effective_state",
    "record_failure",
    "record_success",
    "with_operator",
]

SUBMIT_FAILED = "submit_failed"
HOLD_STORM = "hold_storm"
NEVER_REPORTED = "never_reported"


def backoff_delay(failures: int, settings: BackoffSettings) -> float:
    """Seconds of backoff after `failures` consecutive failures."""
    if failures <= 0:
        return 0.0
    return float(min(settings.initial * 2 ** min(failures - 1, 32), settings.max))


def record_failure(
    health: EntryHealth, now: float, reason: str, settings: BackoffSettings
) -> EntryHealth:
    """One more failure: back off for longer."""
    failures = health.failures
    if health.last_failure is not None and now - health.last_failure >= _quiet(settings):
        failures = 0  # a long quiet spell forgives the past
    failures += 1
    return dataclasses.replace(
        health,
        backoff_until=now + backoff_delay(failures, settings),
        failures=failures,
        last_failure=now,
        last_failure_reason=reason,
    )


def record_success(health: EntryHealth, now: float, settings: BackoffSettings) -> EntryHealth:
    """A submission went through; the failure count resets after `reset_after` quiet."""
    failures = health.failures
    if health.last_failure is None or now - health.last_failure >= settings.reset_after:
        failures = 0
    return dataclasses.replace(health, failures=failures, last_success=now)


def with_operator(
    health: EntryHealth, operator: OperatorState, *, hard: bool = False
) -> EntryHealth:
    """The health with an operator's enable/disable/drain applied."""
    return EntryHealth(
        entry=health.entry,
        operator=operator,
        drain_hard=hard if operator is OperatorState.DRAINING else False,
        backoff_until=health.backoff_until,
        failures=health.failures,
        last_failure=health.last_failure,
        last_failure_reason=health.last_failure_reason,
        last_success=health.last_success,
    )


def effective_state(
    config: Config, health: EntryHealth | None, entry: str, now: float
) -> HealthState:
    """An entry's health at `now`; config `enabled: false` (or no such entry) wins."""
    try:
        enabled = config.entry(entry).enabled
    except KeyError:
        enabled = False
    return (health or EntryHealth(entry=entry)).state(now, config_enabled=enabled)


def assess_entries(
    config: Config,
    health: Mapping[str, EntryHealth],
    glideins: Sequence[Glidein],
    slots: Sequence[Slot],
    now: float,
    *,
    reported: Collection[str] | None = None,
) -> dict[str, str]:
    """Entries in trouble this cycle (entry -> reason): hold storms, glideins that never
    reported. Entries already backed off, disabled or draining are not assessed.

    `reported` holds the glideins that posted log records; None when that is unknown,
    and then glideins that run without a startd (a `local` entry without a condor
    tarball: no-condor mode) are not judged at all.
    """
    settings = config.factory.backoff
    with_slot = {s.glidein_id for s in slots}
    by_entry: dict[str, list[Glidein]] = defaultdict(list)
    for g in glideins:
        by_entry[g.entry].append(g)
    out: dict[str, str] = {}
    for entry, mine in sorted(by_entry.items()):
        current = health.get(entry)
        if effective_state(config, current, entry, now) is not HealthState.OK:
            continue
        since = max(now - settings.hold_storm_window, _last_failure(current))
        live = [g for g in mine if g.state not in (GlideinState.REMOVED, GlideinState.COMPLETED)]
        held = [g for g in live if g.state is GlideinState.HELD and g.entered_state > since]
        if _many(len(held), len(live), settings):
            out[entry] = HOLD_STORM
            continue
        entry_config = config.entry(entry)
        glidein = entry_config.effective_glidein(config.factory)
        local = gridtype(entry_config.gridtype).local
        if reported is None and local and not glidein.condor_tarball:
            continue  # no startd by design and no log records to look at
        heard = with_slot | set(reported or ())
        running = [g for g in live if g.state is GlideinState.RUNNING]
        silent = [
            g
            for g in running
            if now - (g.job_start if g.job_start is not None else g.entered_state)
            >= glidein.report_timeout
            and g.glidein_id not in heard
        ]
        if silent and _many(len(silent), len(running), settings):
            out[entry] = NEVER_REPORTED
    return out


def _many(count: int, total: int, settings: BackoffSettings) -> bool:
    if count == 0 or total == 0:
        return False
    return (
        count >= min(settings.hold_storm_min, total)
        and count >= settings.hold_storm_fraction * total
    )


def _last_failure(health: EntryHealth | None) -> float:
    if health is None or health.last_failure is None:
        return float("-inf")
    return health.last_failure


def _quiet(settings: BackoffSettings) -> float:
    # failures further apart than the longest backoff plus reset_after are unrelated
    return settings.max + settings.reset_after
