"""What the writer learns from the rare records that matter beyond the log: the user
jobs a glidein ran (`job.start`, `job.end`) and its end (`glidein.end`).

The writer notes them while preparing a group of batches (only new records, so a
retried batch adds nothing) and writes them in the group's transaction: `user_jobs`
rows, then one `GlideinUsage` per glidein for the accounting, the busy time of an
ending glidein read back from its rows so jobs of earlier batches count too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import orjson

from aglidein.core.accounting import busy_seconds
from aglidein.core.records import parse_ts
from aglidein.store.api import GlideinUsage
from aglidein.store.userjobs import JOB_EVENTS, UserJob, jobs_from_lines, store_jobs

__all__ = ["USAGE_EVENTS", "UsageNotes"]

END_EVENT = "glidein.end"
USAGE_EVENTS = JOB_EVENTS | {END_EVENT}
VALIDATION_FAILED = "validation_failed"


@dataclass(slots=True)
class _GlideinEnd:
    ts: float
    duration_s: float
    reason: str


@dataclass(slots=True)
class _Noted:
    name: str
    entry: str
    jobs: list[UserJob] = field(default_factory=list)
    ends: list[_GlideinEnd] = field(default_factory=list)


class UsageNotes:
    """The user jobs and glidein ends of one write group, by glidein row id."""

    def __init__(self) -> None:
        self._by_glidein: dict[int, _Noted] = {}

    def note(
        self, glidein_id: int, name: str, entry: str, events: list[str], lines: list[bytes]
    ) -> None:
        """Take the job and end records among one batch's new `lines`."""
        noted = self._by_glidein.setdefault(glidein_id, _Noted(name, entry))
        noted.jobs.extend(jobs_from_lines(events, lines))
        for event, line in zip(events, lines, strict=True):
            if event == END_EVENT:
                end = _glidein_end(line)
                if end is not None:
                    noted.ends.append(end)

    def write(self, conn: sqlite3.Connection) -> list[GlideinUsage]:
        """Store the noted jobs (inside the caller's transaction); the usage they say."""
        out: list[GlideinUsage] = []
        for glidein_id, noted in self._by_glidein.items():
            if noted.jobs:
                store_jobs(conn, glidein_id, noted.jobs)
            job_seconds = sum(
                j.end - j.start
                for j in noted.jobs
                if j.end is not None and j.start is not None and j.end >= j.start
            )
            glidein_seconds = busy = 0.0
            failed = False
            for end in noted.ends:
                start = end.ts - end.duration_s
                rows = conn.execute(
                    "SELECT start_ts, coalesce(end_ts, ?) FROM user_jobs"
                    " WHERE glidein_id = ? AND start_ts IS NOT NULL",
                    (end.ts, glidein_id),
                ).fetchall()
                glidein_seconds += end.duration_s
                busy += busy_seconds(rows, start, end.ts)
                failed = failed or end.reason == VALIDATION_FAILED
            if job_seconds or noted.ends:
                out.append(
                    GlideinUsage(
                        glidein=noted.name,
                        entry=noted.entry,
                        job_seconds=job_seconds,
                        glidein_seconds=glidein_seconds,
                        busy_seconds=busy,
                        ended=bool(noted.ends),
                        validation_failed=failed,
                    )
                )
        return out


def _glidein_end(line: bytes) -> _GlideinEnd | None:
    try:
        record = orjson.loads(line)
        ts = parse_ts(record["ts"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    duration = record.get("duration_s")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
        duration = 0.0
    reason = record.get("reason")
    return _GlideinEnd(ts, float(duration), reason if isinstance(reason, str) else "")
