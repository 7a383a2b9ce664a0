"""Per-group accounting (issue #18 item 5): what the log store learns from new records
(`GlideinUsage`: user-job time, a glidein's wall time and busy time at its end) added up
by (group, entry) into the metrics and the status document's `accounting` rows.

The group is the glidein's `AglideinGroup` as the roster knows it (`unknown` when the
glidein ended before this daemon saw it on the queue). Totals run from the daemon's
start, like the counters.
"""

from __future__ import annotations

import structlog

from aglidein.core.accounting import AccountingTotals
from aglidein.runtime import Runtime
from aglidein.store.api import GlideinUsage

__all__ = ["UNKNOWN_GROUP", "Accounting"]

log = structlog.get_logger()
UNKNOWN_GROUP = "unknown"


class Accounting:
    """Adds usage reports to the totals on the status board and to the metrics."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def totals(self) -> AccountingTotals:
        """The running totals (kept on the status board, created at first use)."""
        board = self._runtime.status
        if board.accounting is None:
            board.accounting = AccountingTotals(board.started)
        return board.accounting

    def record(self, usage: list[GlideinUsage]) -> None:
        """Count what new records said (called on the event loop after each commit)."""
        metrics = self._runtime.metrics
        for report in usage:
            group = self._runtime.roster.group_of(report.glidein) or UNKNOWN_GROUP
            labels = {"group": group, "entry": report.entry}
            before = self.totals.row(group, report.entry).badput_seconds
            row = self.totals.add(
                group,
                report.entry,
                job_seconds=report.job_seconds,
                glidein_seconds=report.glidein_seconds,
                busy_seconds=report.busy_seconds,
                validation_failed=report.validation_failed,
            )
            if report.job_seconds > 0:
                metrics.user_job_seconds.labels(**labels).inc(report.job_seconds)
            if report.glidein_seconds > 0:
                metrics.glidein_seconds.labels(**labels).inc(report.glidein_seconds)
            if row.badput_seconds > before:
                metrics.glidein_badput_seconds.labels(**labels).inc(row.badput_seconds - before)
            if report.validation_failed:
                metrics.glidein_validation_failures.labels(**labels).inc()
            if report.ended:
                log.info(
                    "glidein.accounted",
                    glidein=report.glidein,
                    group=group,
                    entry=report.entry,
                    wall_s=round(report.glidein_seconds, 1),
                    busy_s=round(report.busy_seconds, 1),
                )
