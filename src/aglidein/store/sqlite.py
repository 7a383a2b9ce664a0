"""The embedded log store: SQLite in WAL mode at `state_dir/logs.db` (DESIGN §8).

One writer thread owns the only writing connection (group commit across requests,
background full-text indexing, retention); `run` starts it through
`anyio.to_thread.run_sync` in its own task group, so the daemon's task group owns it and
waits for it to commit what was queued before the store closes. The writer hands each
transaction's requests to a second thread of the same task group, which wakes them on
the event loop with `anyio.from_thread.run_sync` — every transaction settled since its
last call in one call — so the writer never waits for the event loop. Reads run on worker threads, each with its own read-only connection,
and never wait for the writer (WAL).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread
import structlog

from aglidein.config import LogsConfig
from aglidein.core.records import LineError, ParsedBatch, parse_batch
from aglidein.errors import StoreError
from aglidein.logkeys import private_database
from aglidein.store import retention
from aglidein.store.api import (
    GlideinDetail,
    GlideinPage,
    GlideinUsage,
    IngestResult,
    LogPage,
    LogQuery,
    StoreStats,
)
from aglidein.store.indexer import Indexer
from aglidein.store.query import glidein_details, glidein_user_jobs, list_glideins, search
from aglidein.store.ranges import SeenSet
from aglidein.store.schema import migrate
from aglidein.store.userjobs import JobRef, JobRun, UserJob, job_runs
from aglidein.store.writer import GlideinState, Job, Writer, store_error

__all__ = ["DB_FILE", "SqliteLogStore"]

log = structlog.get_logger()
DB_FILE = "logs.db"
INLINE_PARSE_MAX = 128 * 1024  # larger bodies are parsed on a worker thread
T = TypeVar("T")


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    return conn


class SqliteLogStore:
    """A `LogStore` and a daemon Service (`stores` list)."""

    name = "log-store"

    def __init__(
        self,
        path: Path,
        settings: Callable[[], LogsConfig],
        *,
        now: Callable[[], float] = time.time,
        max_page_count: int | None = None,
        on_usage: Callable[[list[GlideinUsage]], None] | None = None,
    ) -> None:
        self.path = path
        self._on_usage = on_usage  # told (on the event loop) what new records say of time
        self._settings = settings
        self._now = now
        self._max_page_count = max_page_count
        self._writer: Writer | None = None
        # settled groups on their way from the writer thread to the notifier thread
        self._settled_groups: queue.SimpleQueue[
            tuple[list[Job], bool, list[GlideinUsage]] | None
        ] = queue.SimpleQueue()
        self._stop = anyio.Event()
        self._closed = True
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(4)
        self._size_bytes = 0
        self.changed = anyio.Event()  # set (and replaced) after each commit with new records

    # --- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating and migrating) the database and make the writer (`run` runs
        its thread)."""
        try:
            private_database(self.path)  # records may hold what operators keep private
            conn = _connect(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            if self._max_page_count is not None:
                conn.execute(f"PRAGMA max_page_count = {int(self._max_page_count)}")
            migrate(conn, str(self.path))
            # Merge full-text segments less eagerly during ingest (the writer merges
            # when idle): many more records per second for a few more segments.
            conn.execute("INSERT INTO batch_fts (batch_fts, rank) VALUES ('automerge', 16)")
            glideins = _load_glideins(conn)
            next_batch = _next_batch(conn)
            fts_indexed = int(
                conn.execute("SELECT value FROM meta WHERE key = 'fts_indexed'").fetchone()[0]
            )
            self._size_bytes = retention.used_bytes(conn)
        except sqlite3.Error as exc:
            raise store_error(exc, "open") from None
        except OSError as exc:
            raise StoreError(f"log store open failed: {self.path}: {exc.strerror}") from None
        writer = Writer(
            conn=conn,
            glideins=glideins,
            next_batch=next_batch,
            indexer=Indexer(conn, fts_indexed, next_batch - 1, now=self._now),
            synchronous=lambda: "FULL" if self._settings().fsync == "full" else "NORMAL",
            maintenance=self._maintain,
            now=self._now,
            notify=self._settled,
        )
        writer.size_bytes = self._size_bytes
        self._writer = writer
        log.info(
            "logs.store_opened",
            path=str(self.path),
            glideins=len(glideins),
            batches=next_batch - 1,
        )

    def open_writer(self) -> Writer:
        """`open`, and the writer made (the writer process runs it itself)."""
        self.open()
        assert self._writer is not None
        return self._writer

    @property
    def fts_indexed(self) -> int:
        """The newest batch in the full-text index."""
        return self._writer.fts_indexed if self._writer is not None else 0

    def close(self) -> None:
        """Close every connection (after the writer thread ended, if it ran)."""
        if self._writer is None:
            return
        self._closed = True
        with contextlib.suppress(sqlite3.Error):
            self._writer.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._writer.conn.close()
        self._close_readers()
        self._writer = None
        log.info("logs.store_closed", path=str(self.path))

    def _close_readers(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    @staticmethod
    def _fail_stragglers(writer: Writer) -> None:
        """Batches queued after the writer stopped get an error, never silence (on the
        event loop, after the thread ended)."""
        closing = StoreError("log store is closing")
        while not writer.jobs.empty():
            job = writer.jobs.get_nowait()
            if job is not None:
                job.result = closing
                if job.done is not None:
                    job.done.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open, run the writer thread until `stop()` (or cancellation), then close: the
        thread first commits every batch queued before, later ones get an error."""
        await anyio.to_thread.run_sync(self.open)
        writer = self._writer
        assert writer is not None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._run_writer, writer)
                tg.start_soon(_in_thread, "log-store-notifier", self._notify_settled)
                self._closed = False
                task_status.started()
                try:
                    await self._stop.wait()
                finally:
                    self._closed = True
                    writer.jobs.put(None)  # the thread commits what is queued, then ends
        finally:
            with anyio.CancelScope(shield=True):
                self._fail_stragglers(writer)
                await anyio.to_thread.run_sync(self.close)

    async def _run_writer(self, writer: Writer) -> None:
        try:
            await _in_thread("log-store-writer", writer.run)
        finally:
            self._settled_groups.put(None)  # after the writer's last group: the notifier ends

    async def stop(self) -> None:
        """Make `run` close the store and return."""
        self._stop.set()

    # --- LogStore ------------------------------------------------------------------------

    async def ingest(self, glidein: str, entry: str, batch: ParsedBatch) -> IngestResult:
        """Queue the batch for the writer; return after its transaction committed."""
        writer = self._writer
        if writer is None or self._closed:
            raise StoreError("log store is not open")
        if not batch.seqs:
            return IngestResult(0, 0)
        done = anyio.Event()
        job = Job(glidein, entry, batch, done=done)
        writer.jobs.put(job)
        await done.wait()
        return job.outcome()

    async def ingest_lines(
        self, glidein: str, entry: str, body: bytes, *, max_fields: int, max_bytes: int
    ) -> tuple[IngestResult, list[LineError]]:
        """Parse an NDJSON body (`records.parse_batch`; a large one on a worker thread),
        store its valid records; what was stored, and the refused lines."""
        if len(body) <= INLINE_PARSE_MAX:
            batch = parse_batch(body, max_fields=max_fields, max_bytes=max_bytes)
        else:
            batch = await anyio.to_thread.run_sync(
                lambda: parse_batch(body, max_fields=max_fields, max_bytes=max_bytes)
            )
        return await self.ingest(glidein, entry, batch), batch.errors

    async def search(self, query: LogQuery) -> LogPage:
        """Records matching `query` (see `store.query.search`)."""
        lag = self.stats().index_lag_s
        return await self._read(lambda conn: search(conn, query, lag))

    async def glideins(
        self, *, entry: str | None = None, limit: int = 1000, cursor: str | None = None
    ) -> GlideinPage:
        """Glideins that have posted, in the order they first did."""
        now = self._now()
        return await self._read(
            lambda conn: list_glideins(conn, entry=entry, limit=limit, cursor=cursor, now=now)
        )

    async def glidein_details(self, names: list[str]) -> dict[str, GlideinDetail]:
        """Summary and last record of each of these glideins that posted (others absent)."""
        now = self._now()
        return await self._read(lambda conn: glidein_details(conn, names, now))

    async def user_jobs(self, glidein: str) -> list[UserJob] | None:
        """The user jobs a glidein ran, as its records say; None when it never posted."""
        return await self._read(lambda conn: glidein_user_jobs(conn, glidein))

    async def job_runs(self, ref: JobRef) -> list[JobRun]:
        """Which glideins ran the user jobs matching `ref`."""
        return await self._read(lambda conn: job_runs(conn, ref))

    async def maintain(self) -> None:
        """Run retention now (the writer also runs it every 30 s) and wait for it."""
        writer = self._writer
        if writer is None:
            raise StoreError("log store is not open")
        writer.maintained.clear()
        writer.maintain_now.set()
        if not await anyio.to_thread.run_sync(writer.maintained.wait, 120.0):
            raise StoreError("log store maintenance did not finish")

    def stats(self) -> StoreStats:
        """Size, index lag and write health as last seen by the writer."""
        writer = self._writer
        if writer is None:
            return StoreStats(self._size_bytes, 0.0, False, "log store is not open")
        return StoreStats(
            size_bytes=writer.size_bytes,
            index_lag_s=writer.index_lag_s,
            writable=writer.last_error is None and not self._closed,
            last_error=writer.last_error,
        )

    def posted_glideins(self) -> set[str]:
        """Ids of every glidein that has posted records (a copy of the writer's keys,
        taken atomically under the GIL)."""
        writer = self._writer
        return set(writer.glideins) if writer is not None else set()

    def ended_glideins(self, names: list[str]) -> set[str]:
        """Which of these glideins posted their end (glidein.end), without blocking."""
        writer = self._writer
        if writer is None:
            return set()
        known = writer.glideins
        return {n for n in names if (state := known.get(n)) is not None and state.ended}

    def changes(self) -> anyio.Event:
        """Set after the next commit that stored records."""
        return self.changed

    @property
    def last_batch(self) -> int:
        """The id of the newest committed batch (0 when empty)."""
        return self._writer.last_committed if self._writer is not None else 0

    # --- internals -----------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return fn(self._reader())
            except sqlite3.Error as exc:
                raise store_error(exc, "read") from None

        return await anyio.to_thread.run_sync(run, limiter=self._limiter)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _settled(self, jobs: list[Job], committed: bool, usage: list[GlideinUsage]) -> None:
        """On the writer thread: pass a settled group on (never blocks)."""
        self._settled_groups.put((jobs, committed, usage))

    def _notify_settled(self) -> None:
        """The notifier thread: wake the requests of every group settled since the last
        round (and the tails when records were committed, and the usage listener when
        records told of glideins' time), one event-loop call each round."""
        while True:
            groups = [self._settled_groups.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    groups.append(self._settled_groups.get_nowait())
            settled = [g for g in groups if g is not None]
            jobs = [job for group, _, _ in settled for job in group]
            committed = any(c for _, c, _ in settled)
            usage = [u for _, _, used in settled for u in used]
            if jobs or committed or usage:
                anyio.from_thread.run_sync(self._wake, jobs, committed, usage)
            if len(settled) < len(groups):
                return

    def _wake(self, jobs: list[Job], committed: bool, usage: list[GlideinUsage]) -> None:
        for job in jobs:
            if job.done is not None:
                job.done.set()
        self._committed(committed, usage)

    def _committed(self, committed: bool, usage: list[GlideinUsage]) -> None:
        """After a transaction: wake the tails when it stored records, tell the usage."""
        if committed:
            event, self.changed = self.changed, anyio.Event()
            event.set()
        if usage and self._on_usage is not None:
            self._on_usage(usage)

    def _maintain(self, writer: Writer) -> None:
        settings = self._settings()
        retention.enforce(
            writer,
            now=self._now(),
            retention_s=settings.retention,
            max_bytes=int(settings.max_bytes),
        )
        self._size_bytes = writer.size_bytes = retention.used_bytes(writer.conn)


async def _in_thread(name: str, body: Callable[[], None]) -> None:
    """Run `body` on a worker thread of its own (its own limiter: it never waits for, nor
    takes, a shared one), named `name` while it runs; never abandoned on cancellation."""

    def named() -> None:
        thread = threading.current_thread()
        pooled_name, thread.name = thread.name, name
        try:
            body()
        finally:
            thread.name = pooled_name

    await anyio.to_thread.run_sync(named, limiter=anyio.CapacityLimiter(1))


def _load_glideins(conn: sqlite3.Connection) -> dict[str, GlideinState]:
    out: dict[str, GlideinState] = {}
    for row in conn.execute(
        "SELECT id, name, entry, first_ts, last_ts, last_received, record_count, bytes,"
        " last_error, last_error_ts, ended, seen FROM glideins"
    ):
        state = GlideinState(
            id=row[0],
            name=row[1],
            entry=row[2],
            first_ts=row[3],
            last_ts=row[4],
            last_received=row[5],
            record_count=row[6],
            bytes=row[7],
            last_error=row[8],
            last_error_ts=row[9],
            ended=bool(row[10]),
            seen=SeenSet.unpack(row[11]),
        )
        out[state.name] = state
    return out


def _next_batch(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'batches'").fetchone()
    top = conn.execute("SELECT max(id) FROM batches").fetchone()[0] or 0
    return max(int(row[0]) if row else 0, int(top)) + 1
