"""Scheduled downtimes (issue 18): when they are in force, and the times operators type.

Pure: the time is a parameter. A downtime covers an entry (or every entry) and a group
(or every group); while in force, its pairs get no new glideins (`limited_by: downtime`)
and their idle glideins are removed, as a gentle drain: running ones keep running.
Times are an ISO 8601 time (UTC unless it carries an offset), `now`, or `now` plus a
duration (`+2h`, `+1d12h`, `+90m`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from aglidein.core.model import Downtime
from aglidein.errors import AglideinError
from aglidein.units import parse_duration

__all__ = ["DowntimeError", "check_window", "in_force", "parse_when"]

_RELATIVE = re.compile(r"^\+\s*(.+)$")
_LATEST = 253402300799.0  # 9999-12-31T23:59:59Z: the last time an ISO string can say


class DowntimeError(AglideinError):
    """A downtime that cannot be: a bad time, an end before the start, an unknown entry."""


def parse_when(text: str, now: float, *, what: str = "time") -> float:
    """Seconds since the epoch from `now`, `+2h` or an ISO 8601 time (naive = UTC)."""
    when = _parse(text, now, what)
    if not math.isfinite(when) or not 0 <= when <= _LATEST:
        raise DowntimeError(f"{what} {text!r} is out of range (1970 to 9999)")
    return when


def _parse(text: str, now: float, what: str) -> float:
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        try:
            return now + parse_duration(relative.group(1))
        except ValueError:
            raise DowntimeError(
                f"{what} {text!r}: a relative time is + and a duration, e.g. +2h, +30m, +1d"
            ) from None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if " " in value else value)
    except ValueError:
        raise DowntimeError(
            f"{what} {text!r} is not a time: use an ISO time (2026-12-07T06:00Z), now, or +2h"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def check_window(start: float, end: float | None, now: float) -> None:
    """Refuse a downtime that ends before it starts or that is already over."""
    if end is None:
        return
    if end <= start:
        raise DowntimeError(
            f"the end ({_iso(end)}) is not after the start ({_iso(start)}): "
            "a downtime must end after it starts"
        )
    if end <= now:
        raise DowntimeError(f"the end ({_iso(end)}) is in the past: the downtime would be over")


def in_force(downtimes: Iterable[Downtime], entry: str, group: str, now: float) -> Downtime | None:
    """The downtime in force at `now` for (group, entry): the earliest started, or None."""
    found = [d for d in downtimes if d.active(now) and d.covers(entry, group)]
    return min(found, key=lambda d: (d.start, d.id)) if found else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
