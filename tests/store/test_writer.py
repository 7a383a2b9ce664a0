"""The store's writer (aglidein.store.writer) driven directly on a temp SQLite database:
deduplication by seq, one transaction and one notify per group, usage handed to notify,
and a failed write settling every job with the store's error and undoing its memory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from aglidein.core.records import ParsedBatch, parse_batch
from aglidein.errors import StoreError, StoreFull
from aglidein.store.api import GlideinUsage, IngestResult
from aglidein.store.indexer import Indexer
from aglidein.store.schema import migrate
from aglidein.store.writer import Job, Writer, store_error
from tests.store.test_sqlite import TS0, batch

Settled = tuple[list[Job], bool, list[GlideinUsage]]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "logs.db"
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    migrate(connection, str(path))
    yield connection
    connection.close()


def make_writer(conn: sqlite3.Connection, calls: list[Settled]) -> Writer:
    def notify(jobs: list[Job], committed: bool, usage: list[GlideinUsage]) -> None:
        calls.append((list(jobs), committed, list(usage)))

    return Writer(
        conn=conn,
        glideins={},
        next_batch=1,
        indexer=Indexer(conn, 0, 0, now=lambda: TS0),
        synchronous=lambda: "NORMAL",
        maintenance=lambda writer: None,
        now=lambda: TS0 + 5,
        notify=notify,
    )


def run(writer: Writer, *jobs: Job) -> None:
    """Queue the jobs and a stop, and run the thread body here until it returns."""
    for job in jobs:
        writer.jobs.put(job)
    writer.jobs.put(None)
    writer.run()


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def records(*items: dict[str, Any]) -> ParsedBatch:
    lines = [orjson.dumps({"level": "info", "ts": "2026-01-01T01:00:00Z", **r}) for r in items]
    return parse_batch(b"\n".join(lines), max_fields=64, max_bytes=16384)


def test_store_error_maps_full_to_store_full() -> None:
    assert isinstance(
        store_error(sqlite3.OperationalError("database or disk is full"), "w"), StoreFull
    )
    error = store_error(sqlite3.OperationalError("no such table: x"), "write")
    assert type(error) is StoreError
    assert str(error) == "log store write failed: no such table: x"


async def test_one_group_one_transaction_one_notify_with_dedup(conn: sqlite3.Connection) -> None:
    calls: list[Settled] = []
    writer = make_writer(conn, calls)
    jobs = [
        Job("g1", "E1", batch([0, 1, 2])),
        Job("g1", "E1", batch([1, 2, 3])),  # 1 and 2 are already in this group
        Job("g2", "E2", batch([0, 1])),
        Job("g1", "E1", batch([0, 3])),  # nothing new
    ]
    run(writer, *jobs)
    assert len(calls) == 1
    settled, committed, usage = calls[0]
    assert settled == jobs
    assert committed
    assert usage == []
    assert [job.outcome() for job in jobs] == [
        IngestResult(3, 0),
        IngestResult(1, 2),
        IngestResult(2, 0),
        IngestResult(0, 2),
    ]
    assert count(conn, "batches") == 3  # a batch with nothing new stores no row
    assert writer.last_committed == 3
    assert writer.next_batch == 4
    assert writer.last_error is None
    glideins = conn.execute(
        "SELECT name, entry, record_count FROM glideins ORDER BY name"
    ).fetchall()
    assert glideins == [("g1", "E1", 4), ("g2", "E2", 2)]
    assert writer.glideins["g1"].record_count == 4
    assert writer.glideins["g1"].last_received == TS0 + 5


async def test_a_retried_batch_commits_nothing(conn: sqlite3.Connection) -> None:
    calls: list[Settled] = []
    writer = make_writer(conn, calls)
    run(writer, Job("g1", "E1", batch([0, 1])))
    retry = Job("g1", "E1", batch([0, 1]))
    run(writer, retry)
    assert retry.outcome() == IngestResult(0, 2)
    assert [c[1] for c in calls] == [True, False]
    assert count(conn, "batches") == 1
    assert writer.last_committed == 1


async def test_usage_reaches_notify_after_commit(conn: sqlite3.Connection) -> None:
    calls: list[Settled] = []
    writer = make_writer(conn, calls)
    job = Job(
        "g1",
        "E1",
        records(
            {"seq": 0, "event": "job.start", "job": "7.0@s", "start_time": 100.0},
            {"seq": 1, "event": "job.end", "job": "7.0@s", "start_time": 100.0, "end_time": 160.0},
            {"seq": 2, "event": "glidein.end", "reason": "ok", "duration_s": 300},
        ),
    )
    run(writer, job)
    [(settled, committed, usage)] = calls
    assert settled == [job]
    assert committed
    assert usage == [GlideinUsage("g1", "E1", job_seconds=60.0, glidein_seconds=300.0, ended=True)]
    assert writer.glideins["g1"].ended
    assert count(conn, "user_jobs") == 1
    assert conn.execute("SELECT ended FROM glideins").fetchone()[0] == 1


async def test_error_records_set_last_error(conn: sqlite3.Connection) -> None:
    calls: list[Settled] = []
    writer = make_writer(conn, calls)
    run(writer, Job("g1", "E1", batch([0, 1], level="error", msg="boom {seq}")))
    assert writer.glideins["g1"].last_error == "boom 1"
    assert conn.execute("SELECT last_error FROM glideins").fetchone()[0] == "boom 1"


async def test_failed_write_settles_jobs_with_the_error_and_undoes(
    conn: sqlite3.Connection,
) -> None:
    calls: list[Settled] = []
    writer = make_writer(conn, calls)
    run(writer, Job("g1", "E1", batch([0])))
    conn.execute(
        "CREATE TEMP TRIGGER no_space BEFORE INSERT ON batches"
        " BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
    )
    failed = [Job("g1", "E1", batch([1, 2])), Job("g9", "E9", batch([0]))]
    run(writer, *failed)
    settled, committed, usage = calls[-1]
    assert settled == failed
    assert not committed
    assert usage == []
    for job in failed:
        with pytest.raises(StoreFull, match="full"):
            job.outcome()
    assert writer.last_error is not None
    assert "full" in writer.last_error
    assert "g9" not in writer.glideins  # a glidein first seen in the failed group is forgotten
    assert writer.glideins["g1"].record_count == 1
    assert writer.next_batch == 2
    assert not conn.in_transaction
    # the same batches are new again once the store can write
    conn.execute("DROP TRIGGER no_space")
    retried = [Job("g1", "E1", batch([1, 2])), Job("g9", "E9", batch([0]))]
    run(writer, *retried)
    assert [job.outcome() for job in retried] == [IngestResult(2, 0), IngestResult(1, 0)]
    assert writer.last_error is None
    assert conn.execute("SELECT max(id) FROM batches").fetchone()[0] == 3


async def test_unexpected_failure_is_a_store_error(conn: sqlite3.Connection) -> None:
    calls: list[Settled] = []
    writer = make_writer(conn, calls)

    def broken() -> str:
        raise RuntimeError("no mode")

    writer.synchronous = broken
    job = Job("g1", "E1", batch([0]))
    run(writer, job)
    with pytest.raises(StoreError, match="log store write failed: no mode"):
        job.outcome()
    assert calls[-1][1] is False
    assert count(conn, "batches") == 0
    assert writer.glideins == {}
