"""The user-job index of the log store: which glidein ran which user job.

The pilot's `job.start` / `job.end` records (glidein/lib/jobs.sh) name each user job as
`Cluster.Proc@schedd`; the writer turns the new ones of each batch into `user_jobs`
rows in the batch's own transaction (so a retried batch adds nothing twice), and
searches by job (`1234.0@schedd`, `1234.0` on any schedd, `1234` a whole cluster) read
them back. Runs on the writer thread or a reader thread.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from aglidein.core.records import JOB_EVENTS

__all__ = [
    "JOB_EVENTS",
    "JobRef",
    "JobRun",
    "UserJob",
    "delete_glidein_jobs",
    "glidein_jobs",
    "job_filter_sql",
    "job_runs",
    "jobs_from_lines",
    "parse_job_ref",
    "store_jobs",
    "user_job_json",
]

_JOB_ID = re.compile(r"(\d{1,18})\.(\d{1,9})@(\S{1,255})\Z")
_REF = re.compile(r"(\d{1,18})(?:\.(\d{1,9}))?(?:@(\S{1,255}))?\Z")


@dataclass(frozen=True, slots=True)
class JobRef:
    """A user-job filter: a cluster, optionally one proc, optionally one schedd."""

    cluster: int
    proc: int | None = None
    schedd: str | None = None


def parse_job_ref(text: str) -> JobRef:
    """`1234.0@schedd`, `1234.0` (any schedd), `1234` (the cluster), `1234@schedd`;
    ValueError naming the accepted forms otherwise."""
    match = _REF.match(text.strip())
    if match is None:
        raise ValueError(
            f"job {text[:80]!r}: use Cluster.Proc@schedd (1234.0@submit.example.org), "
            "Cluster.Proc (any schedd) or Cluster"
        )
    cluster, proc, schedd = match.groups()
    return JobRef(int(cluster), int(proc) if proc is not None else None, schedd)


@dataclass(frozen=True, slots=True)
class UserJob:
    """One user job as its glidein's records describe it (times in epoch seconds)."""

    job: str
    cluster: int
    proc: int
    schedd: str
    owner: str | None = None
    start: float | None = None
    end: float | None = None
    exit_code: int | None = None
    exit_signal: int | None = None


@dataclass(frozen=True, slots=True)
class JobRun:
    """A user job and the glidein that ran it."""

    glidein: str
    entry: str
    job: UserJob


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _user_job(record: dict[str, Any]) -> UserJob | None:
    job = record.get("job")
    match = _JOB_ID.match(job) if isinstance(job, str) else None
    if match is None or not isinstance(job, str):
        return None
    owner = record.get("owner")
    ended = record.get("event") == "job.end"
    return UserJob(
        job=job,
        cluster=int(match.group(1)),
        proc=int(match.group(2)),
        schedd=match.group(3),
        owner=owner if isinstance(owner, str) and owner else None,
        start=_number(record.get("start_time")),
        end=_number(record.get("end_time")) if ended else None,
        exit_code=_int(record.get("exit_code")) if ended else None,
        exit_signal=_int(record.get("exit_signal")) if ended else None,
    )


def jobs_from_lines(events: list[str], lines: list[bytes]) -> list[UserJob]:
    """The user jobs named by the job.start / job.end records among `lines` (a record
    without a well-formed `job` is ignored: it stays a plain record)."""
    out: list[UserJob] = []
    for event, line in zip(events, lines, strict=True):
        if event not in JOB_EVENTS:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        found = _user_job(record) if isinstance(record, dict) else None
        if found is not None:
            out.append(found)
    return out


def store_jobs(conn: sqlite3.Connection, glidein_id: int, jobs: Iterable[UserJob]) -> None:
    """Insert or complete the glidein's rows (a later record fills what an earlier lacked)."""
    conn.executemany(
        "INSERT INTO user_jobs (glidein_id, job, cluster, proc, schedd, owner, start_ts,"
        " end_ts, exit_code, exit_signal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (glidein_id, job) DO UPDATE SET"
        " owner = coalesce(excluded.owner, owner),"
        " start_ts = coalesce(excluded.start_ts, start_ts),"
        " end_ts = coalesce(excluded.end_ts, end_ts),"
        " exit_code = coalesce(excluded.exit_code, exit_code),"
        " exit_signal = coalesce(excluded.exit_signal, exit_signal)",
        [
            (
                glidein_id,
                j.job,
                j.cluster,
                j.proc,
                j.schedd,
                j.owner,
                j.start,
                j.end,
                j.exit_code,
                j.exit_signal,
            )
            for j in jobs
        ],
    )


def delete_glidein_jobs(conn: sqlite3.Connection, glidein_id: int) -> None:
    """Forget a glidein's user jobs (its records are gone)."""
    conn.execute("DELETE FROM user_jobs WHERE glidein_id = ?", (glidein_id,))


def _job_where(ref: JobRef, prefix: str = "") -> tuple[str, list[Any]]:
    where = [f"{prefix}cluster = ?"]
    params: list[Any] = [ref.cluster]
    if ref.proc is not None:
        where.append(f"{prefix}proc = ?")
        params.append(ref.proc)
    if ref.schedd is not None:
        where.append(f"{prefix}schedd = ?")
        params.append(ref.schedd)
    return " AND ".join(where), params


def job_filter_sql(ref: JobRef) -> tuple[str, list[Any]]:
    """A `b.glidein_id IN (...)` condition selecting the glideins that ran `ref`."""
    where, params = _job_where(ref)
    return f"b.glidein_id IN (SELECT glidein_id FROM user_jobs WHERE {where})", params


def job_runs(conn: sqlite3.Connection, ref: JobRef, limit: int = 1000) -> list[JobRun]:
    """Where the user jobs matching `ref` ran: each (glidein, job) pair, oldest first."""
    where, params = _job_where(ref, "u.")
    rows = conn.execute(
        "SELECT g.name, g.entry, u.job, u.cluster, u.proc, u.schedd, u.owner, u.start_ts,"
        " u.end_ts, u.exit_code, u.exit_signal FROM user_jobs u JOIN glideins g"
        f" ON g.id = u.glidein_id WHERE {where}"
        " ORDER BY coalesce(u.start_ts, u.end_ts), u.job LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [JobRun(row[0], row[1], UserJob(*row[2:])) for row in rows]


def glidein_jobs(conn: sqlite3.Connection, glidein_id: int) -> list[UserJob]:
    """The user jobs a glidein ran, oldest start first."""
    rows = conn.execute(
        "SELECT job, cluster, proc, schedd, owner, start_ts, end_ts, exit_code, exit_signal"
        " FROM user_jobs WHERE glidein_id = ? ORDER BY coalesce(start_ts, end_ts), job",
        (glidein_id,),
    ).fetchall()
    return [UserJob(*row) for row in rows]


def user_job_json(job: UserJob, format_ts: Any) -> dict[str, Any]:
    """One user job as the API shows it (`format_ts`: epoch → RFC 3339)."""
    return {
        "job": job.job,
        "owner": job.owner,
        "start": format_ts(job.start),
        "end": format_ts(job.end),
        "exit_code": job.exit_code,
        "exit_signal": job.exit_signal,
    }
