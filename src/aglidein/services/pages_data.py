"""What the status pages show, as data: one row per entry, group and factory totals, an
entry's history over a range. Built from the status document (as `/api/v1/status` gives
it), entry health, and the history; the HTML (`pages_html`) and JSON routes share it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aglidein.core.model import EntryHealth
from aglidein.services.history import FACTORY, HistoryRecorder
from aglidein.services.status_rows import entry_rows
from aglidein.store.history import HistoryPoint, HistoryRange, HistorySample

__all__ = [
    "ACCOUNTING_FIELDS",
    "Accounting",
    "EntriesPage",
    "EntryRow",
    "TotalRow",
    "entries_page",
    "history_json",
]

ACCOUNTING_FIELDS = ("glidein_hours", "job_hours", "badput_hours", "validation_failures")
_HOUR, _DAY = 3600.0, 86400.0


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Accounting:
    """Accounting summed over rows of the status document's `accounting`."""

    glidein_hours: float = 0.0
    job_hours: float = 0.0
    badput_hours: float = 0.0
    validation_failures: int = 0
    since: str | None = None  # the earliest `since` of the rows summed

    def plus(self, row: Mapping[str, Any]) -> Accounting:
        """This total with one more row."""
        since = row.get("since")
        earliest = min((s for s in (self.since, since) if isinstance(s, str)), default=None)
        return Accounting(
            self.glidein_hours + float(row.get("glidein_hours") or 0.0),
            self.job_hours + float(row.get("job_hours") or 0.0),
            self.badput_hours + float(row.get("badput_hours") or 0.0),
            self.validation_failures + int(row.get("validation_failures") or 0),
            earliest,
        )

    def as_json(self) -> dict[str, Any]:
        """The JSON fields."""
        return {
            "glidein_hours": round(self.glidein_hours, 3),
            "job_hours": round(self.job_hours, 3),
            "badput_hours": round(self.badput_hours, 3),
            "validation_failures": self.validation_failures,
            "since": self.since,
        }


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One entry as the entries page shows it."""

    entry: str
    health: str  # ok, backoff, disabled, draining, downtime
    reason: str | None  # why: the backoff's cause, the downtime's comment
    until: str | None  # when that ends (ISO), if known
    demand: int
    requested: int
    idle: int
    running: int
    held: int
    black_hole: int
    limited_by: tuple[str, ...]
    last_submit: str | None
    exits_hour: Mapping[str, int]
    exits_day: Mapping[str, int]
    accounting: Accounting | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON row."""
        row: dict[str, Any] = {
            "entry": self.entry,
            "health": self.health,
            "reason": self.reason,
            "until": self.until,
            "demand": self.demand,
            "requested": self.requested,
            "glideins": _glideins_json(self.idle, self.running, self.held, self.black_hole),
            "limited_by": list(self.limited_by),
            "last_submit": self.last_submit,
            "exits": {"1h": dict(self.exits_hour), "24h": dict(self.exits_day)},
        }
        if self.accounting is not None:
            row["accounting"] = self.accounting.as_json()
        return row


def _glideins_json(idle: int, running: int, held: int, black_hole: int) -> dict[str, int]:
    """A row's glideins by state, as the JSON rows of entries and totals carry them."""
    return {"idle": idle, "running": running, "held": held, "black_hole": black_hole}


@dataclass(frozen=True, slots=True)
class TotalRow:
    """A group's or the factory's totals (from the last cycle's history points)."""

    name: str  # the group; "" for the factory
    demand: int
    requested: int
    idle: int
    running: int
    held: int
    black_hole: int
    exits_hour: Mapping[str, int]
    exits_day: Mapping[str, int]
    accounting: Accounting | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON row."""
        row: dict[str, Any] = {
            "demand": self.demand,
            "requested": self.requested,
            "glideins": _glideins_json(self.idle, self.running, self.held, self.black_hole),
            "exits": {"1h": dict(self.exits_hour), "24h": dict(self.exits_day)},
        }
        if self.name:
            row = {"group": self.name, **row}
        if self.accounting is not None:
            row["accounting"] = self.accounting.as_json()
        return row


@dataclass(frozen=True, slots=True)
class EntriesPage:
    """Everything on `/entries`."""

    factory_name: str
    cycle: int
    cycle_at: str | None
    entries: tuple[EntryRow, ...]
    groups: tuple[TotalRow, ...]
    factory: TotalRow
    with_accounting: bool = False

    def as_json(self) -> dict[str, Any]:
        """`GET /api/v1/entries`."""
        return {
            "factory_name": self.factory_name,
            "cycle": {"number": self.cycle, "at": self.cycle_at},
            "entries": [e.as_json() for e in self.entries],
            "groups": [g.as_json() for g in self.groups],
            "factory": self.factory.as_json(),
            "accounting": self.with_accounting,
        }


async def entries_page(
    status: Mapping[str, Any],
    health: Mapping[str, EntryHealth],
    recorder: HistoryRecorder,
    group_names: Sequence[str],
    now: float,
) -> EntriesPage:
    """The entries page from the status document, entry health and the history."""
    store = recorder.store
    hour = await store.exit_totals("entry", now - _HOUR)
    day = await store.exit_totals("entry", now - _DAY)
    group_hour = await store.exit_totals("group", now - _HOUR)
    group_day = await store.exit_totals("group", now - _DAY)
    factory_hour = await store.exit_totals("factory", now - _HOUR)
    factory_day = await store.exit_totals("factory", now - _DAY)
    accounting_rows = status.get("accounting")
    with_accounting = isinstance(accounting_rows, list)
    by_entry: dict[str, Accounting] = {}
    by_group: dict[str, Accounting] = {}
    total = Accounting()
    for row in accounting_rows if isinstance(accounting_rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        entry, group = str(row.get("entry", "")), str(row.get("group", ""))
        by_entry[entry] = by_entry.get(entry, Accounting()).plus(row)
        by_group[group] = by_group.get(group, Accounting()).plus(row)
        total = total.plus(row)
    rows = []
    for row in entry_rows(status):
        name = row["entry"]
        state, reason, until = _health(row, health.get(name))
        last = store.last_submit.get(name)
        rows.append(
            EntryRow(
                entry=name,
                health=state,
                reason=reason,
                until=until,
                demand=row["demand"],
                requested=row["requested"],
                idle=row["idle"],
                running=row["running"],
                held=row["held"],
                black_hole=row["black_hole"],
                limited_by=tuple(row["limited_by"]),
                last_submit=_iso(last),
                exits_hour=hour.get(name, Counter()),
                exits_day=day.get(name, Counter()),
                accounting=by_entry.get(name, Accounting()) if with_accounting else None,
            )
        )
    groups = tuple(
        _total(
            recorder.latest.get(("group", g)),
            g,
            group_hour.get(g, Counter()),
            group_day.get(g, Counter()),
            by_group.get(g, Accounting()) if with_accounting else None,
        )
        for g in group_names
    )
    factory = _total(
        recorder.latest.get(("factory", FACTORY)),
        FACTORY,
        factory_hour.get(FACTORY, Counter()),
        factory_day.get(FACTORY, Counter()),
        total if with_accounting else None,
    )
    board = status.get("factory", {})
    cycle = board.get("cycle", {})
    return EntriesPage(
        factory_name=str(board.get("name", "")),
        cycle=int(cycle.get("number") or 0),
        cycle_at=cycle.get("started"),
        entries=tuple(rows),
        groups=groups,
        factory=factory,
        with_accounting=with_accounting,
    )


def _health(
    row: Mapping[str, Any], health: EntryHealth | None
) -> tuple[str, str | None, str | None]:
    """(state, reason, until) of an entry row."""
    state = str(row["health"])
    downtime = row.get("downtime")
    if state == "backoff":
        reason = health.last_failure_reason if health is not None else None
        return state, reason, row.get("backoff_until")
    if state in ("disabled", "draining"):
        hard = health is not None and health.drain_hard and state == "draining"
        return state, "hard drain" if hard else "operator", None
    if isinstance(downtime, Mapping):
        group = downtime.get("group")
        comment = str(downtime.get("comment") or "")
        reason = f"{comment} (group {group})" if group else comment
        return "downtime", reason, downtime.get("end")
    return state, None, None


def _total(
    point: HistoryPoint | None,
    name: str,
    hour: Mapping[str, int],
    day: Mapping[str, int],
    accounting: Accounting | None,
) -> TotalRow:
    p = point or HistoryPoint("group" if name else "factory", name)
    return TotalRow(
        name=name,
        demand=p.demand,
        requested=p.requested,
        idle=p.idle,
        running=p.running,
        held=p.held,
        black_hole=p.black_hole,
        exits_hour=hour,
        exits_day=day,
        accounting=accounting,
    )


def history_json(
    key: str, name: str, span: HistoryRange, samples: Sequence[HistorySample], now: float
) -> dict[str, Any]:
    """`GET /api/v1/entries/{name}/history` (`key` "entry"), `/api/v1/groups/{name}/history`
    ("group") or `/api/v1/factory/history` ("factory", the factory's name)."""
    return {
        key: name,
        "range": span.name,
        "resolution_s": span.resolution,
        "start": _iso(now - span.seconds),
        "end": _iso(now),
        "points": [
            {
                "ts": _iso(s.ts),
                "idle": round(s.idle, 3),
                "running": round(s.running, 3),
                "held": round(s.held, 3),
                "black_hole": round(s.black_hole, 3),
                "demand": round(s.demand, 3),
                "requested": round(s.requested, 3),
                "submitted": s.submitted,
                "exits": dict(s.exits),
            }
            for s in samples
        ],
    }
