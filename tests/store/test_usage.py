"""Per-glidein usage for the accounting (aglidein.store.usage): job.start / job.end records
become user_jobs rows, glidein.end adds wall time, busy time read back from every row of
the glidein (earlier groups included) and validation failures; malformed records ignored."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from aglidein.core.records import parse_ts
from aglidein.store import schema
from aglidein.store.api import GlideinUsage
from aglidein.store.usage import USAGE_EVENTS, UsageNotes

END_TS = "2026-01-01T01:00:00Z"
T_END = parse_ts(END_TS)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "store.db"
    connection = sqlite3.connect(path, isolation_level=None)
    schema.migrate(connection, str(path))
    yield connection
    connection.close()


def lines(*records: dict[str, Any]) -> tuple[list[str], list[bytes]]:
    return [str(r.get("event", "")) for r in records], [orjson.dumps(r) for r in records]


def job_start(job: str, start: float) -> dict[str, Any]:
    return {"event": "job.start", "job": job, "owner": "alice", "start_time": start}


def job_end(job: str, start: float, end: float) -> dict[str, Any]:
    return {"event": "job.end", "job": job, "start_time": start, "end_time": end, "exit_code": 0}


def glidein_end(duration: Any, reason: str = "ok", ts: str = END_TS) -> dict[str, Any]:
    return {"event": "glidein.end", "ts": ts, "duration_s": duration, "reason": reason}


def rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT glidein_id, job, owner, start_ts, end_ts, exit_code FROM user_jobs"
        " ORDER BY glidein_id, job"
    ).fetchall()


def test_usage_events() -> None:
    assert {"job.start", "job.end", "glidein.end"} <= USAGE_EVENTS


def test_jobs_are_stored_and_ended_ones_count(conn: sqlite3.Connection) -> None:
    notes = UsageNotes()
    notes.note(
        1,
        "g1",
        "E",
        *lines(
            job_start("10.0@s", T_END - 500),
            {"event": "log.line", "msg": "x"},
            job_end("10.0@s", T_END - 500, T_END - 300),
            job_start("11.0@s", T_END - 100),
        ),
    )
    notes.note(2, "g2", "E2", *lines(job_start("12.0@s", T_END - 50)))
    usage = notes.write(conn)
    assert usage == [GlideinUsage(glidein="g1", entry="E", job_seconds=200.0)]
    assert rows(conn) == [
        (1, "10.0@s", "alice", T_END - 500, T_END - 300, 0),
        (1, "11.0@s", "alice", T_END - 100, None, None),
        (2, "12.0@s", "alice", T_END - 50, None, None),
    ]


def test_glidein_end_reads_busy_time_from_earlier_rows(conn: sqlite3.Connection) -> None:
    first = UsageNotes()
    first.note(1, "g1", "E", *lines(job_start("10.0@s", T_END - 900)))  # before the glidein
    first.note(1, "g1", "E", *lines(job_end("11.0@s", T_END - 600, T_END - 400)))
    assert first.write(conn) == [GlideinUsage("g1", "E", job_seconds=200.0)]
    second = UsageNotes()
    second.note(
        1,
        "g1",
        "E",
        *lines(job_end("12.0@s", T_END - 450, T_END - 350), glidein_end(800)),
    )
    [usage] = second.write(conn)
    # 10.0 never ended: it runs to the glidein's end, clipped to [T_END - 800, T_END]
    assert usage == GlideinUsage(
        glidein="g1",
        entry="E",
        job_seconds=100.0,
        glidein_seconds=800.0,
        busy_seconds=800.0,
        ended=True,
        validation_failed=False,
    )


def test_busy_time_counts_overlaps_once(conn: sqlite3.Connection) -> None:
    notes = UsageNotes()
    notes.note(
        3,
        "g3",
        "E",
        *lines(
            job_end("1.0@s", T_END - 1000, T_END - 700),
            job_end("1.1@s", T_END - 800, T_END - 600),
            job_end("1.2@s", T_END - 100, T_END - 50),
            glidein_end(1000, reason="validation_failed"),
        ),
    )
    [usage] = notes.write(conn)
    assert usage.job_seconds == 550.0
    assert usage.glidein_seconds == 1000.0
    assert usage.busy_seconds == 450.0
    assert usage.ended
    assert usage.validation_failed


def test_bad_glidein_end_records(conn: sqlite3.Connection) -> None:
    notes = UsageNotes()
    events = ["glidein.end"] * 5
    bad_lines = [
        b"not json",
        orjson.dumps({"event": "glidein.end", "duration_s": 5}),  # no ts
        orjson.dumps(glidein_end(10, ts="yesterday")),
        orjson.dumps(glidein_end(-5)),
        orjson.dumps(glidein_end(True)),
    ]
    notes.note(4, "g4", "E", events, bad_lines)
    [usage] = notes.write(conn)
    assert usage == GlideinUsage("g4", "E", glidein_seconds=0.0, ended=True)
    assert rows(conn) == []


def test_nothing_noted_writes_nothing(conn: sqlite3.Connection) -> None:
    notes = UsageNotes()
    notes.note(5, "g5", "E", *lines({"event": "log.line"}, {"event": "job.end", "job": "bad"}))
    assert notes.write(conn) == []
    assert rows(conn) == []
