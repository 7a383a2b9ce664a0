"""The SQLite log store: exactly-once, durability across reopen, search, retention, full disk."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import orjson
import pytest

from aglidein.config import LogsConfig
from aglidein.core.records import ParsedBatch, parse_batch
from aglidein.errors import StoreError, StoreFull
from aglidein.store.api import LogQuery
from aglidein.store.indexer import MAX_AGE_S
from aglidein.store.sqlite import INLINE_PARSE_MAX, SqliteLogStore
from aglidein.store.writer import Job
from tests.service_helpers import running

TS0 = 1767225600.0  # 2026-01-01T00:00:00Z


def batch(
    seqs: list[int], *, level: str = "info", msg: str = "step {seq}", event: str = "a.b"
) -> ParsedBatch:
    lines = [
        orjson.dumps(
            {
                "seq": s,
                "ts": f"2026-01-01T00:{s // 60 % 60:02d}:{s % 60:02d}Z",
                "level": level,
                "event": event,
                "msg": msg.format(seq=s),
            }
        )
        for s in seqs
    ]
    return parse_batch(b"\n".join(lines), max_fields=64, max_bytes=16384)


@asynccontextmanager
async def open_store(
    path: Path,
    settings: LogsConfig | dict[str, LogsConfig] | None = None,
    now: Callable[[], float] | None = None,
    **kw: object,
) -> AsyncIterator[SqliteLogStore]:
    holder = settings if isinstance(settings, dict) else {"logs": settings or LogsConfig()}
    store = SqliteLogStore(
        path / "logs.db",
        lambda: holder["logs"],
        now=now or (lambda: TS0),
        **kw,  # type: ignore[arg-type]
    )
    async with running(store):
        yield store


async def fill(store: SqliteLogStore) -> None:
    for start in range(10, 5000, 100):
        await store.ingest("g", "E", batch(list(range(start, start + 100)), msg="y" * 500))


async def wait_indexed(store: SqliteLogStore) -> None:
    for _ in range(200):
        if store.fts_indexed >= store.last_batch:
            return
        await anyio.sleep(0.05)
    raise AssertionError("the full-text index never caught up")


async def all_seqs(store: SqliteLogStore, glidein: str) -> list[int]:
    page = await store.search(LogQuery(glidein=glidein, limit=10000))
    return [int(r["seq"]) for r in page.records]


async def test_out_of_order_and_repeated_batches_store_each_record_once(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        plan = [
            list(range(100, 200)),
            list(range(0, 100)),
            list(range(100, 200)),  # a retry
            [250, 260, 255],  # gaps, out of order inside the batch
            list(range(50, 150)),  # overlaps both
            [255, 256, 256],  # repeated inside one batch
        ]
        results = [await store.ingest("g1", "E", batch(seqs)) for seqs in plan]
        assert [(r.accepted, r.duplicates) for r in results] == [
            (100, 0),
            (100, 0),
            (0, 100),
            (3, 0),
            (0, 100),
            (1, 2),
        ]
        stored = await all_seqs(store, "g1")
    assert sorted(stored) == [*range(200), 250, 255, 256, 260]
    assert len(stored) == len(set(stored))


async def test_concurrent_batches_of_one_glidein_are_deduplicated(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        results = []

        async def post(seqs: list[int]) -> None:
            results.append(await store.ingest("g", "E", batch(seqs)))

        async with anyio.create_task_group() as tg:
            for start in range(0, 500, 50):
                tg.start_soon(post, list(range(start, start + 100)))
        assert sum(r.accepted for r in results) == 550
        stored = await all_seqs(store, "g")
    assert sorted(stored) == list(range(550))


async def test_reopen_keeps_records_and_seen_seqs(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        await store.ingest("g", "E", batch(list(range(10))))
    async with open_store(tmp_path) as store:
        result = await store.ingest("g", "E", batch(list(range(5, 15))))
        assert (result.accepted, result.duplicates) == (5, 5)
        assert await all_seqs(store, "g") == list(range(15))
        page = await store.glideins()
    assert [(g.glidein, g.entry, g.record_count) for g in page.glideins] == [("g", "E", 15)]


async def test_search_filters_and_cursor_pages(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        await store.ingest("g1", "E1", batch(list(range(0, 30)), msg="cvmfs mount ok {seq}"))
        await store.ingest("g1", "E1", batch([30, 31], level="error", msg="cvmfs mount failed"))
        await store.ingest(
            "g2", "E2", batch(list(range(0, 20)), event="startd.up", msg="slot {seq}")
        )
        assert len((await store.search(LogQuery(entry="E2", limit=100))).records) == 20
        errors = await store.search(LogQuery(levels=frozenset({"error"}), limit=100))
        assert [(r["glidein"], r["seq"]) for r in errors.records] == [("g1", 30), ("g1", 31)]
        assert len((await store.search(LogQuery(event="startd.up", limit=100))).records) == 20
        window = await store.search(LogQuery(glidein="g1", since=TS0 + 10, until=TS0 + 19))
        assert [r["seq"] for r in window.records] == list(range(10, 20))
        seen: list[int] = []
        query = LogQuery(glidein="g1", limit=7)
        while True:
            page = await store.search(query)
            seen += [int(r["seq"]) for r in page.records]
            if page.next_cursor is None:
                break
            query = LogQuery(glidein="g1", limit=7, cursor=page.next_cursor)
        assert seen == list(range(32))
        newest = await store.search(LogQuery(glidein="g1", limit=3, descending=True))
        assert [r["seq"] for r in newest.records] == [31, 30, 29]
        await wait_indexed(store)
        failed = await store.search(LogQuery(q="mount FAILED", limit=100))
        assert [r["seq"] for r in failed.records] == [30, 31]
        prefix = await store.search(LogQuery(q="slo*", limit=100))
        assert {r["glidein"] for r in prefix.records} == {"g2"}
        assert (await store.search(LogQuery(glidein="nobody"))).records == []


async def test_retention_by_age_and_by_size(tmp_path: Path) -> None:
    clock = {"now": TS0}
    settings = LogsConfig(retention=3600, max_bytes=10**12)
    async with open_store(tmp_path, settings, now=lambda: clock["now"]) as store:
        await store.ingest("old", "E", batch(list(range(100))))
        clock["now"] += 7200
        await store.ingest("new", "E", batch(list(range(100))))
        await store.maintain()  # what the writer does every 30 s
        names = [g.glidein for g in (await store.glideins()).glideins]
        assert names == ["new"]
        assert await all_seqs(store, "old") == []
        assert len(await all_seqs(store, "new")) == 100


async def test_size_retention_drops_least_recent_glideins_first(tmp_path: Path) -> None:
    clock = {"now": TS0}
    settings = {"logs": LogsConfig(max_bytes=10**12)}
    async with open_store(tmp_path, now=lambda: clock["now"], settings=settings) as store:
        for i in range(6):
            clock["now"] += 10
            await store.ingest(f"g{i}", "E", batch(list(range(300)), msg="x" * 300 + " {seq}"))
        await wait_indexed(store)
        await store.maintain()
        used = store.stats().size_bytes
        settings["logs"] = LogsConfig(max_bytes=used * 7 // 10)
        await store.maintain()
        names = [g.glidein for g in (await store.glideins()).glideins]
    assert 0 < len(names) < 6
    assert names == [f"g{i}" for i in range(6 - len(names), 6)]


async def test_batches_are_stored_compressed_and_read_back_as_sent(tmp_path: Path) -> None:
    sent = batch(list(range(200)), msg="validate.cvmfs: /cvmfs/cms.cern.ch mounted ({seq} ms)")
    async with open_store(tmp_path) as store:
        await store.ingest("g", "E", sent)
        page = await store.search(LogQuery(glidein="g", limit=1000))
    conn = sqlite3.connect(tmp_path / "logs.db")
    (stored,) = conn.execute("SELECT lines FROM batch_data").fetchone()
    (size,) = conn.execute("SELECT bytes FROM batches").fetchone()
    conn.close()
    assert size == len(b"\n".join(sent.lines))  # the records' size, as sent
    assert len(stored) * 3 < size
    assert [
        {k: v for k, v in r.items() if k not in ("glidein", "entry")} for r in page.records
    ] == [orjson.loads(line) for line in sent.lines]


async def test_full_disk_is_a_store_full_error_not_corruption(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        await store.ingest("g", "E", batch(list(range(10))))
    pages = sqlite3.connect(tmp_path / "logs.db").execute("PRAGMA page_count").fetchone()[0]
    async with open_store(tmp_path, max_page_count=pages + 2) as store:
        with pytest.raises(StoreFull):
            await fill(store)
        assert not store.stats().writable
        stored = await all_seqs(store, "g")
    assert stored[:10] == list(range(10))
    async with open_store(tmp_path) as store:
        again = await all_seqs(store, "g")
        assert again == stored
        result = await store.ingest("g", "E", batch(list(range(len(stored) + 100))))
        assert result.accepted == len(range(len(stored) + 100)) - len(stored)
    conn = sqlite3.connect(tmp_path / "logs.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_the_writer_thread_ends_with_the_task_group_that_runs_it(tmp_path: Path) -> None:
    """Cancelling the task group that runs the store still commits every batch queued
    before, and returns only once the writer thread ended and the store closed; a
    request that was waiting is woken with its result."""
    store = SqliteLogStore(tmp_path / "logs.db", LogsConfig, now=lambda: TS0)
    results = []

    async def post(glidein: str) -> None:
        results.append(await store.ingest(glidein, "E", batch(list(range(100)))))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            await tg.start(store.run)
            writer = store._writer
            assert writer is not None
            await post("first")
            for g in range(20):  # queued behind the cancellation, nobody waits for them
                writer.jobs.put(Job(f"g{g}", "E", batch(list(range(100)))))
            tg.cancel_scope.cancel()
    assert [(r.accepted, r.duplicates) for r in results] == [(100, 0)]
    with pytest.raises(sqlite3.ProgrammingError):  # closed: the thread is gone
        writer.conn.execute("SELECT 1")
    with pytest.raises(StoreError, match="not open"):
        await store.ingest("late", "E", batch([1]))
    async with open_store(tmp_path) as again:
        page = await again.glideins(limit=100)
    assert sum(g.record_count for g in page.glideins) == 21 * 100


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    async with open_store(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / "logs.db")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    store = SqliteLogStore(tmp_path / "logs.db", LogsConfig)
    with pytest.raises(StoreError, match="newer"):
        store.open()


async def test_index_catches_up_after_a_burst(tmp_path: Path) -> None:
    async with open_store(tmp_path) as store:
        async with anyio.create_task_group() as tg:
            for g in range(20):
                tg.start_soon(
                    store.ingest, f"g{g}", "E", batch(list(range(500)), msg="burst word{seq}")
                )
        with anyio.fail_after(20):
            while True:
                page = await store.search(LogQuery(q="word499", limit=100))
                if len(page.records) == 20:
                    break
                await anyio.sleep(0.1)
        assert store.stats().index_lag_s < 5


async def test_full_text_search_finds_a_record_within_its_documented_delay(
    tmp_path: Path,
) -> None:
    """Below the burst rate the index trails ingest by at most MAX_AGE_S (1 s): a record
    committed on its own is found by `q` within that (plus 5 s for a busy machine)."""
    assert MAX_AGE_S == 1.0  # README's "Glidein logs" quotes it
    async with open_store(tmp_path) as store:
        await store.ingest("g", "E", batch([1], msg="needle{seq}"))
        with anyio.fail_after(MAX_AGE_S + 5):
            while True:
                if (await store.search(LogQuery(q="needle1"))).records:
                    break
                await anyio.sleep(0.05)


async def test_glidein_state_follows_its_records(tmp_path: Path) -> None:
    clock = {"now": TS0}
    async with open_store(tmp_path, now=lambda: clock["now"]) as store:
        await store.ingest("done", "E", batch([1, 2], event="glidein.exit"))
        await store.ingest("quiet", "E", batch([1]))
        clock["now"] += 3600
        await store.ingest("busy", "E", batch([1], level="critical", msg="no cvmfs"))
        states = {g.glidein: (g.state, g.last_error) for g in (await store.glideins()).glideins}
    assert states == {
        "done": ("ended", None),
        "quiet": ("silent", None),
        "busy": ("active", "no cvmfs"),
    }


async def test_databases_are_created_private(tmp_path: Path) -> None:
    """logs.db and state.db (and their WAL files) are 0600; an old 0644 one is fixed."""
    import stat

    from aglidein.state import StateDB

    old = tmp_path / "state.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    state = StateDB.open(old)
    await state.put_json("k", 1)
    store = SqliteLogStore(tmp_path / "logs.db", lambda: LogsConfig())
    store.open()
    try:
        for name in ("state.db", "state.db-wal", "logs.db", "logs.db-wal", "logs.db-shm"):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
    finally:
        store.close()
        state.close()


async def test_an_ndjson_body_is_parsed_and_its_refused_lines_named(tmp_path: Path) -> None:
    lines = b"\n".join(batch(list(range(2000)), msg="m" * 60 + " {seq}").lines)  # > 128 KiB
    body = lines + b'\n{"seq": -1}\n'
    async with open_store(tmp_path) as store:
        result, refused = await store.ingest_lines("g", "E", body, max_fields=64, max_bytes=16384)
        assert (result.accepted, result.duplicates) == (2000, 0)
        assert [e.line for e in refused] == [2001]
        assert len(body) > INLINE_PARSE_MAX  # parsed on a worker thread
