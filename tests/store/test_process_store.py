"""The log store with its writer in a child process: the same contract as in-process
(exactly-once, refused lines named, durable across reopen, retention), what the daemon
reads without blocking kept up to date, and a child that dies failing loudly."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import orjson
import pytest
import structlog

from aglidein.config import LogsConfig
from aglidein.errors import StoreError
from aglidein.store.api import LogQuery
from aglidein.store.process_store import ProcessLogStore
from aglidein.store.schema import SCHEMA_VERSION
from tests.service_helpers import running

from .test_sqlite import batch


def _body(seqs: list[int], *, event: str = "a.b", bad: int | None = None) -> bytes:
    lines = [
        orjson.dumps(
            {
                "seq": s,
                "ts": "2026-01-01T00:00:00Z",
                "level": "info",
                "event": event,
                "msg": f"step {s}",
            }
        )
        for s in seqs
    ]
    if bad is not None:
        lines.insert(bad, b'{"seq": "x"}')
    return b"\n".join(lines) + b"\n"


@asynccontextmanager
async def open_process_store(
    path: Path, settings: dict[str, LogsConfig] | None = None
) -> AsyncIterator[ProcessLogStore]:
    holder = settings or {"logs": LogsConfig()}
    async with running(ProcessLogStore(path / "logs.db", lambda: holder["logs"])) as store:
        yield store


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1500):  # 30 s
        if condition():
            return
        await anyio.sleep(0.02)
    raise AssertionError("never happened")


def _child_pid() -> int:
    mine = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == mine and "writer_child" in (stat.parent / "cmdline").read_text():
            return int(stat.parent.name)
    raise AssertionError("no writer process")


async def test_records_are_stored_once_and_refused_lines_are_named(tmp_path: Path) -> None:
    async with open_process_store(tmp_path) as store:
        first, refused = await store.ingest_lines(
            "g", "E", _body([1, 2, 3], bad=1), max_fields=64, max_bytes=16384
        )
        again, _ = await store.ingest_lines(
            "g", "E", _body([2, 3, 4]), max_fields=64, max_bytes=16384
        )
        parsed = await store.ingest("g", "E", batch([4, 5]))
        page = await store.search(LogQuery(glidein="g", limit=100))
        assert (first.accepted, first.duplicates) == (3, 0)
        assert [e.line for e in refused] == [2]
        assert "seq" in refused[0].error
        assert (again.accepted, again.duplicates) == (1, 2)
        assert (parsed.accepted, parsed.duplicates) == (1, 1)
        assert [r["seq"] for r in page.records] == [1, 2, 3, 4, 5]
        assert store.posted_glideins() == {"g"}
        assert store.last_batch == 3
        assert store.stats().writable


async def test_a_body_with_no_valid_line_stores_nothing_and_says_why(tmp_path: Path) -> None:
    async with open_process_store(tmp_path) as store:
        result, refused = await store.ingest_lines(
            "g", "E", b"not json\n", max_fields=64, max_bytes=16384
        )
        assert (result.accepted, result.duplicates) == (0, 0)
        assert [e.line for e in refused] == [1]
        assert store.posted_glideins() == set()


async def test_what_was_sent_before_stop_is_committed_and_kept(tmp_path: Path) -> None:
    results: list[int] = []

    async def post(i: int, store: ProcessLogStore) -> None:
        result, _ = await store.ingest_lines(
            f"g{i}", "E", _body(list(range(50))), max_fields=64, max_bytes=16384
        )
        results.append(result.accepted)

    async with open_process_store(tmp_path) as store, anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(post, i, store)
    assert results == [50] * 20
    async with open_process_store(tmp_path) as store:
        again, _ = await store.ingest_lines(
            "g7", "E", _body(list(range(50))), max_fields=64, max_bytes=16384
        )
        assert (again.accepted, again.duplicates) == (0, 50)  # seen seqs survive a restart
        assert len(store.posted_glideins()) == 20


async def test_ended_glideins_and_the_index_are_told_to_the_daemon(tmp_path: Path) -> None:
    async with open_process_store(tmp_path) as store:
        await store.ingest("g1", "E", batch([1], event="glidein.end"))
        await store.ingest("g2", "E", batch([1]))
        assert store.ended_glideins(["g1", "g2", "g3"]) == {"g1"}
        await until(lambda: store.fts_indexed >= store.last_batch)
        page = await store.search(LogQuery(q="step", limit=10))
        assert {r["glidein"] for r in page.records} == {"g1", "g2"}


async def test_retention_runs_in_the_child_with_the_settings_of_the_moment(
    tmp_path: Path,
) -> None:
    settings = {"logs": LogsConfig()}
    async with open_process_store(tmp_path, settings) as store:
        for i in range(6):
            await store.ingest(f"g{i}", "E", batch(list(range(300)), msg="x{seq} " * 40))
        await store.maintain()
        settings["logs"] = LogsConfig(max_bytes=store.stats().size_bytes * 6 // 10)
        await store.maintain()
        left = store.posted_glideins()
    assert 0 < len(left) < 6
    assert left == {f"g{i}" for i in range(6 - len(left), 6)}


async def test_a_writer_process_that_dies_fails_its_requests_and_is_started_again(
    tmp_path: Path,
) -> None:
    with structlog.testing.capture_logs() as logs:
        async with open_process_store(tmp_path) as store:
            await store.ingest("g", "E", batch([1, 2]))
            os.kill(_child_pid(), signal.SIGKILL)
            await until(lambda: not store.stats().writable)
            assert "exited" in (store.stats().last_error or "")
            with pytest.raises(StoreError):
                await store.ingest("g", "E", batch([3]))
            await until(lambda: store.stats().writable)
            again = await store.ingest("g", "E", batch([2, 3]))
            assert (again.accepted, again.duplicates) == (1, 1)  # what was committed stays
    events = [e["event"] for e in logs]
    assert "logs.writer_process_exited" in events
    assert "logs.writer_process_restarting" in events


async def test_a_database_of_a_newer_aglidein_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "logs.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = ProcessLogStore(tmp_path / "logs.db", LogsConfig)
    with pytest.raises(StoreError, match="newer"):
        await store.run()


async def test_the_childs_log_events_are_the_daemons(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        async with open_process_store(tmp_path):
            pass
    events = [e["event"] for e in logs]
    assert "logs.store_opened" in events
    assert "logs.store_closed" in events
