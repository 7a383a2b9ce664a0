"""Per-group accounting (issue #18 item 5): where glidein time went, by (group, entry),
into the metrics and the status document's `accounting` rows.

Two sources, each glidein counted once:

- the pilot's records, as the log store commits them (`GlideinUsage`): user-job time at
  each `job.end`; at `glidein.end` the glidein's wall time, the part some user job was
  running (badput is the rest) and whether it failed validation;
- the factory's user log, for a glidein that ended without its `glidein.end` reaching
  the store (killed at the site, removed while running, or its last post failed): its
  wall time is the queue's start to end (the roster's), its busy time what its stored
  job records cover, validation failure its exit code 10.

The group is the glidein's `AglideinGroup` as the roster knows it (`unknown` when the
glidein ended before this daemon saw it on the queue). Totals run from the daemon's
start, like the counters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import structlog

from aglidein.condor.userlog import JobEnd
from aglidein.core.accounting import AccountingTotals, busy_seconds
from aglidein.services.metrics import UNKNOWN_GROUP
from aglidein.services.roster import RosterGlidein
from aglidein.services.runtime import Runtime
from aglidein.store.api import GlideinUsage, LogStore

__all__ = ["UNKNOWN_GROUP", "Accounting"]

log = structlog.get_logger()
VALIDATION_FAILED_EXIT = 10
_REMEMBER = 20_000  # glideins counted from the queue (bounded memory)


class Accounting:
    """Adds usage reports to the totals on the status board and to the metrics."""

    def __init__(self, runtime: Runtime, store: Callable[[], LogStore] | None = None) -> None:
        self._runtime = runtime
        self._store = store
        self._pending: list[tuple[RosterGlidein, JobEnd, float]] = []
        self._from_queue: OrderedDict[str, None] = OrderedDict()

    @property
    def totals(self) -> AccountingTotals:
        """The running totals (kept on the status board, created at first use)."""
        board = self._runtime.status
        if board.accounting is None:
            board.accounting = AccountingTotals(board.started)
        return board.accounting

    def record(self, usage: list[GlideinUsage]) -> None:
        """Count what new records said (called on the event loop after each commit)."""
        for report in usage:
            counted = report.glidein in self._from_queue  # its end was already counted
            self._add(
                self._group(report.glidein),
                report.entry,
                job_seconds=report.job_seconds,
                glidein_seconds=0.0 if counted else report.glidein_seconds,
                busy_seconds=0.0 if counted else report.busy_seconds,
                validation_failed=report.validation_failed and not counted,
            )
            if report.ended and not counted:
                log.info(
                    "glidein.accounted",
                    glidein=report.glidein,
                    entry=report.entry,
                    source="records",
                    wall_s=round(report.glidein_seconds, 1),
                    busy_s=round(report.busy_seconds, 1),
                )

    def queue_ends(self, ends: list[JobEnd]) -> None:
        """Note glideins whose end the user log shows (settled by `settle_queue_ends`)."""
        now = self._runtime.clock.now()
        for end in ends:
            glidein = self._runtime.roster.of_job(end)
            if glidein is not None and glidein.started is not None:
                self._pending.append((glidein, end, glidein.ended or now))

    async def settle_queue_ends(self) -> int:
        """Count the noted glideins whose glidein.end never reached the store; how many."""
        if not self._pending or self._store is None:
            return 0
        pending, self._pending = self._pending, []
        store = self._store()
        ended = store.ended_glideins([g.glidein for g, _, _ in pending])
        counted = 0
        for glidein, end, ended_at in pending:
            if glidein.glidein in ended or glidein.glidein in self._from_queue:
                continue
            started = glidein.started or ended_at
            jobs = await store.user_jobs(glidein.glidein) or []
            busy = busy_seconds(
                [(j.start, j.end or ended_at) for j in jobs if j.start is not None],
                started,
                ended_at,
            )
            self._remember(glidein.glidein)
            self._add(
                glidein.group,
                glidein.entry,
                glidein_seconds=ended_at - started,
                busy_seconds=busy,
                validation_failed=end.exit_code == VALIDATION_FAILED_EXIT,
            )
            counted += 1
            log.info(
                "glidein.accounted",
                glidein=glidein.glidein,
                entry=glidein.entry,
                source="user_log",
                wall_s=round(ended_at - started, 1),
                busy_s=round(busy, 1),
            )
        return counted

    def _remember(self, glidein: str) -> None:
        self._from_queue[glidein] = None
        while len(self._from_queue) > _REMEMBER:
            self._from_queue.popitem(last=False)

    def _group(self, glidein: str) -> str:
        return self._runtime.roster.group_of(glidein) or UNKNOWN_GROUP

    def _add(
        self,
        group: str,
        entry: str,
        *,
        job_seconds: float = 0.0,
        glidein_seconds: float = 0.0,
        busy_seconds: float = 0.0,
        validation_failed: bool = False,
    ) -> None:
        metrics = self._runtime.metrics
        labels = {"group": group, "entry": entry}
        row = self.totals.row(group, entry)
        before = (row.job_seconds, row.glidein_seconds, row.badput_seconds)
        self.totals.add(
            group,
            entry,
            job_seconds=job_seconds,
            glidein_seconds=glidein_seconds,
            busy_seconds=busy_seconds,
            validation_failed=validation_failed,
        )
        for counter, old, new in (
            (metrics.user_job_seconds, before[0], row.job_seconds),
            (metrics.glidein_seconds, before[1], row.glidein_seconds),
            (metrics.glidein_badput_seconds, before[2], row.badput_seconds),
        ):
            if new > old:
                counter.labels(**labels).inc(new - old)
        if validation_failed:
            metrics.glidein_validation_failures.labels(**labels).inc()
