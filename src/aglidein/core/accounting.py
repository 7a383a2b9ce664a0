"""Per-group accounting (issue #18 item 5): glidein wall time, user-job time, badput
and validation failures by (group, entry). Pure: the log store reports what each new
record says (`GlideinUsage`-like figures), this adds them up.

Badput is glidein time with no user job running: a glidein's wall time minus the union
of its jobs' run intervals (two jobs on two dynamic slots at once are one busy period).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AccountingRow", "AccountingTotals", "busy_seconds"]


def busy_seconds(intervals: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Seconds within [start, end] covered by at least one of `intervals`."""
    clipped = sorted(
        (max(a, start), min(b, end)) for a, b in intervals if min(b, end) > max(a, start)
    )
    total = 0.0
    current_start: float | None = None
    current_end = 0.0
    for a, b in clipped:
        if current_start is None or a > current_end:
            if current_start is not None:
                total += current_end - current_start
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_start is not None:
        total += current_end - current_start
    return total


@dataclass(slots=True)
class AccountingRow:
    """Totals of one (group, entry) since `since` (epoch seconds)."""

    group: str
    entry: str
    since: float
    glidein_seconds: float = 0.0
    job_seconds: float = 0.0
    badput_seconds: float = 0.0
    validation_failures: int = 0


class AccountingTotals:
    """Running totals by (group, entry)."""

    def __init__(self, since: float) -> None:
        self.since = since
        self._rows: dict[tuple[str, str], AccountingRow] = {}

    def row(self, group: str, entry: str) -> AccountingRow:
        """The row of (group, entry), created empty on first use."""
        key = (group, entry)
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = AccountingRow(group, entry, self.since)
        return found

    def add(
        self,
        group: str,
        entry: str,
        *,
        job_seconds: float = 0.0,
        glidein_seconds: float = 0.0,
        busy_seconds: float = 0.0,
        validation_failed: bool = False,
    ) -> AccountingRow:
        """Add one report; negative or impossible figures count as zero."""
        row = self.row(group, entry)
        row.job_seconds += max(0.0, job_seconds)
        wall = max(0.0, glidein_seconds)
        row.glidein_seconds += wall
        row.badput_seconds += max(0.0, wall - min(max(0.0, busy_seconds), wall))
        row.validation_failures += int(validation_failed)
        return row

    def rows(self) -> list[AccountingRow]:
        """Every row, by group then entry."""
        return [self._rows[key] for key in sorted(self._rows)]
