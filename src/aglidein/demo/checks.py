"""The demo's own checks (DESIGN §12): glideins on several entries, a backoff seen,
records of real pilot runs stored and searchable over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from aglidein.core.model import EntryHealth
from aglidein.services.metrics import Metrics

__all__ = [
    "MIN_ENTRIES",
    "BackoffSeen",
    "Check",
    "DemoChecks",
    "PilotLogs",
    "probe_pilot_logs",
    "submitted_by_entry",
]

MIN_ENTRIES = 3  # glideins must have gone to at least this many entries
PILOT_EVENT = "glidein.start"
PILOT_TEXT = "glidein starting"  # the msg of every pilot's glidein.start record


@dataclass(frozen=True)
class Check:
    """One check: what it asks, whether it held, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass
class BackoffSeen:
    """What the demo saw of one entry's backoffs."""

    reasons: list[str] = field(default_factory=list)
    failures: set[float] = field(default_factory=set)  # last_failure times seen
    recovered: bool = False


@dataclass(frozen=True)
class PilotLogs:
    """What the log API answered about the local pilots."""

    started: frozenset[str] = frozenset()  # glideins found by `event=glidein.start`
    found_by_text: frozenset[str] = frozenset()  # ... and by the full-text query
    ended: frozenset[str] = frozenset()  # glideins with a `glidein.end` record
    records: int = 0  # records of every glidein that posted logs
    error: str | None = None

    @property
    def searchable(self) -> frozenset[str]:
        """Pilots found both by the event filter and by full text."""
        return self.started & self.found_by_text


def submitted_by_entry(metrics: Metrics) -> dict[str, int]:
    """Glideins submitted successfully so far, per entry (from the metrics)."""
    out: dict[str, int] = {}
    for family in metrics.submissions.collect():
        for sample in family.samples:
            wanted = sample.name.endswith("_total") and sample.labels.get("result") == "success"
            if wanted and sample.value > 0:
                out[sample.labels["entry"]] = int(sample.value)
    return out


async def probe_pilot_logs(client: httpx.AsyncClient) -> PilotLogs:
    """Ask `GET /api/v1/logs` (event filter and full text) and `/api/v1/glideins`."""
    try:
        started = await _glideins_of(client, {"event": PILOT_EVENT})
        by_text = await _glideins_of(client, {"q": PILOT_TEXT})
        ended = await _glideins_of(client, {"event": "glidein.end"})
        answer = await client.get("/api/v1/glideins", params={"limit": 100000})
        answer.raise_for_status()
        records = sum(int(g.get("record_count", 0)) for g in answer.json()["glideins"])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return PilotLogs(error=f"{type(exc).__name__}: {exc}")
    return PilotLogs(started=started, found_by_text=by_text, ended=ended, records=records)


async def _glideins_of(client: httpx.AsyncClient, params: Mapping[str, str]) -> frozenset[str]:
    answer = await client.get("/api/v1/logs", params={**params, "limit": "10000"})
    answer.raise_for_status()
    records: list[dict[str, Any]] = answer.json()["records"]
    return frozenset(str(r["glidein"]) for r in records if r.get("glidein"))


class DemoChecks:
    """Collects what the demo saw while it ran and judges it at the end."""

    def __init__(self, started: float) -> None:
        self.started = started  # simulated time the demo began: older failures don't count
        self.backoffs: dict[str, BackoffSeen] = {}
        self.submitted: dict[str, int] = {}
        self.pilots = PilotLogs()

    def observe_health(self, health: Mapping[str, EntryHealth]) -> None:
        """Note entries that failed (went into backoff) and those that recovered."""
        for name, entry in health.items():
            last = entry.last_failure
            if last is None or last < self.started:
                continue
            seen = self.backoffs.setdefault(name, BackoffSeen())
            seen.failures.add(last)
            reason = entry.last_failure_reason or "unknown"
            if reason not in seen.reasons:
                seen.reasons.append(reason)
            seen.recovered = entry.last_success is not None and entry.last_success > last

    def observe_pilots(self, pilots: PilotLogs) -> None:
        """Keep the latest answer, unless it is an error and an earlier one was good."""
        if pilots.error is None or not self.pilots.started:
            self.pilots = pilots

    @property
    def pilots_ok(self) -> bool:
        """Whether some pilot's records were found by event and by full text."""
        return bool(self.pilots.searchable)

    def results(self) -> list[Check]:
        """Every check with what was seen."""
        entries = sorted(self.submitted, key=lambda e: -self.submitted[e])
        submitted = Check(
            f"glideins submitted to at least {MIN_ENTRIES} entries",
            len(entries) >= MIN_ENTRIES,
            f"{sum(self.submitted.values())} glideins to {len(entries)} entries"
            + (f" ({', '.join(f'{e} {self.submitted[e]}' for e in entries)})" if entries else ""),
        )
        backoff = Check(
            "at least one entry went into backoff",
            bool(self.backoffs),
            "; ".join(
                f"{name}: {', '.join(seen.reasons)} x{len(seen.failures)}"
                + (", recovered" if seen.recovered else "")
                for name, seen in sorted(self.backoffs.items())
            )
            or "no entry backed off",
        )
        pilots = self.pilots
        if pilots.error is not None and not pilots.started:
            detail = f"the log API failed: {pilots.error}"
        else:
            detail = (
                f"{len(pilots.started)} pilots found by event={PILOT_EVENT}, "
                f"{len(pilots.found_by_text)} by q={PILOT_TEXT!r}, "
                f"{len(pilots.ended)} finished; {pilots.records} records stored"
            )
        logs = Check("records from real pilot runs stored and searchable", self.pilots_ok, detail)
        return [submitted, backoff, logs]

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return all(check.ok for check in self.results())
