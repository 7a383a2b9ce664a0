"""The log store's one writer thread: group commit, deduplication, background FTS
indexing and retention, all on one SQLite connection.

Requests enqueue batches; the writer takes every queued batch, stores them in one
transaction, and settles each request's future only after COMMIT returned. With WAL
and `synchronous=NORMAL` a committed transaction survives a crash of the process; with
`FULL` also a power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import structlog

from aglidein.core.records import END_EVENTS, LEVEL_BITS, ParsedBatch
from aglidein.errors import StoreError, StoreFull
from aglidein.store.api import IngestResult
from aglidein.store.ranges import SeenSet
from aglidein.store.retention import used_bytes

__all__ = ["LINE_BITS", "GlideinState", "Job", "Writer", "batch_msgs", "fts_rows", "store_error"]

log = structlog.get_logger()

ERROR_LEVEL = 3  # index of "error" in LEVELS
MAX_GROUP_RECORDS = 50_000
FTS_STEP_BATCHES = 400  # when re-reading unindexed batches from the database
FTS_STEP_RECORDS = 20_000  # index in steps of about this many records ...
FTS_MAX_AGE_S = 1.0  # ... or once the oldest unindexed record is this old ...
FTS_IDLE_S = 0.3  # ... or after this long when no request waits
MERGE_IDLE_S = 5.0
BURST_RECORDS_PER_S = 30_000  # above this ingest rate the index yields ...
FTS_BURST_STEP = 5_000  # ... to one step of this many records a second
FTS_PENDING_MAX = 200_000  # records whose messages are kept in memory for the indexer
MAINTENANCE_EVERY = 30.0
SIZE_EVERY = 2.0
LINE_BITS = 20  # a batch (≤ 8 MiB) holds far fewer than 2**20 records


def store_error(exc: sqlite3.Error, what: str) -> StoreError:
    """Map a sqlite3 error: disk or page limit full → StoreFull, else StoreError."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "full" in str(exc):
        return StoreFull(f"log store is full: {exc}")
    return StoreError(f"log store {what} failed: {exc}")


@dataclass
class GlideinState:
    """What the writer keeps in memory about one glidein (mirrors its row)."""

    id: int
    name: str
    entry: str
    seen: SeenSet
    first_ts: float | None = None
    last_ts: float | None = None
    last_received: float = 0.0
    record_count: int = 0
    bytes: int = 0
    last_error: str | None = None
    last_error_ts: float | None = None
    ended: bool = False

    def row(self) -> tuple[object, ...]:
        """The values of its `glideins` row."""
        return (
            self.id,
            self.name,
            self.entry,
            self.first_ts,
            self.last_ts,
            self.last_received,
            self.record_count,
            self.bytes,
            self.last_error,
            self.last_error_ts,
            int(self.ended),
            self.seen.pack(),
        )


@dataclass
class Job:
    """One request's batch waiting for the writer."""

    glidein: str
    entry: str
    batch: ParsedBatch
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[IngestResult]
    result: IngestResult | BaseException | None = None


@dataclass
class _Pending:
    """A committed batch not yet in the full-text index."""

    batch_id: int
    received: float
    msgs: list[str]


@dataclass
class Writer:
    """The writer thread's state; `run()` is the thread body."""

    conn: sqlite3.Connection
    glideins: dict[str, GlideinState]
    next_batch: int
    fts_indexed: int
    synchronous: Callable[[], str]
    maintenance: Callable[[Writer], None]
    now: Callable[[], float] = time.time
    jobs: queue.SimpleQueue[Job | None] = field(default_factory=queue.SimpleQueue)
    last_committed: int = 0
    index_lag_s: float = 0.0
    last_error: str | None = None
    on_commit: Callable[[int], None] = lambda batch_id: None
    _pending: deque[_Pending] = field(default_factory=deque)
    _pending_dropped: bool = False
    _sync_mode: str = ""
    _glidein_seq: int = 0
    _pending_records: int = 0
    _rate_records: int = 0
    _rate_since: float = field(default_factory=time.monotonic)
    _rate: float = 0.0
    _unmerged: bool = True
    size_bytes: int = 0
    maintain_now: threading.Event = field(default_factory=threading.Event)
    maintained: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._glidein_seq = max((g.id for g in self.glideins.values()), default=0)
        self.last_committed = self.next_batch - 1
        self._pending_dropped = self.fts_indexed < self.last_committed

    # --- thread body ---------------------------------------------------------------------

    def run(self) -> None:
        """Take jobs until a None arrives; commit them in groups; index and maintain."""
        last_fts = last_maintenance = last_size = time.monotonic()
        while True:
            busy = self.fts_indexed < self.last_committed or self.maintain_now.is_set()
            group, stop = self._take(timeout=0.05 if busy else 1.0)
            if group:
                self._commit_group(group)
            now = time.monotonic()
            if self._index_due(now - last_fts):
                last_fts = now
                try:
                    self._fts_step()
                except Exception:  # the index trails; ingest must go on
                    log.exception("logs.index_failed")
                    self._pending_dropped = True
            elif self._unmerged and self.jobs.empty() and now - last_fts > MERGE_IDLE_S:
                last_fts = now
                self._merge_index()
            if now - last_maintenance >= MAINTENANCE_EVERY or self.maintain_now.is_set():
                last_maintenance = now
                self.maintain_now.clear()
                try:
                    self._maintain()
                finally:
                    self.maintained.set()
            with contextlib.suppress(sqlite3.Error):
                self._update_lag()
                if now - last_size >= SIZE_EVERY:
                    last_size = now
                    self.size_bytes = used_bytes(self.conn)
            if stop:
                break
        self._drain_fts()

    def _take(self, timeout: float) -> tuple[list[Job], bool]:
        """Every queued job (up to MAX_GROUP_RECORDS records) and whether None was seen."""
        try:
            item = self.jobs.get(timeout=timeout)
        except queue.Empty:
            return [], False
        group: list[Job] = []
        records = 0
        while item is not None:
            group.append(item)
            records += len(item.batch)
            if records >= MAX_GROUP_RECORDS:
                return group, False
            try:
                item = self.jobs.get_nowait()
            except queue.Empty:
                return group, False
        return group, True

    # --- ingest --------------------------------------------------------------------------

    def _commit_group(self, group: list[Job]) -> None:
        undo: dict[str, GlideinState | None] = {}
        first_batch = self.next_batch
        pending: list[_Pending] = []
        try:
            batch_rows, data_rows = self._prepare(group, undo, pending)
            self._apply_sync()
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch_rows
            )
            self.conn.executemany("INSERT INTO batch_data VALUES (?, ?)", data_rows)
            self.conn.executemany(
                "INSERT OR REPLACE INTO glideins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.glideins[name].row() for name in undo],
            )
            self.conn.execute("COMMIT")
        except Exception as exc:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            self._undo(undo)
            self.next_batch = first_batch
            if isinstance(exc, sqlite3.Error):
                error = store_error(exc, "write")
                log.error("logs.store_write_failed", error=str(exc), batches=len(group))
            else:
                error = StoreError(f"log store write failed: {exc}")
                log.exception("logs.writer_failed")
            self.last_error = str(error)
            self.settle(group, error)
            return
        self.last_error = None
        if batch_rows:
            self.last_committed = self.next_batch - 1
            if self._pending_records < FTS_PENDING_MAX and not self._pending_dropped:
                self._pending.extend(pending)
                self._pending_records += sum(len(p.msgs) for p in pending)
            else:
                self._pending_dropped = True
        self._rate_records += sum(row[7] for row in batch_rows)  # type: ignore[misc]
        self.settle(group, None)
        if batch_rows:
            self.on_commit(self.last_committed)

    def _prepare(
        self, group: list[Job], undo: dict[str, GlideinState | None], pending: list[_Pending]
    ) -> tuple[list[tuple[object, ...]], list[tuple[int, bytes]]]:
        """Deduplicate each job and build the rows to insert (memory changes go in undo)."""
        batch_rows: list[tuple[object, ...]] = []
        data_rows: list[tuple[int, bytes]] = []
        received = self.now()
        for job in group:
            state = self._glidein(job, undo)
            new = _new_indexes(state.seen, job.batch)
            dupes = len(job.batch) - len(new)
            job.result = IngestResult(accepted=len(new), duplicates=dupes)
            if not new:
                continue
            batch_id = self.next_batch
            self.next_batch += 1
            row, data, msgs = self._batch_row(batch_id, state, job.batch, new, received)
            batch_rows.append(row)
            data_rows.append((batch_id, data))
            pending.append(_Pending(batch_id, received, msgs))
        return batch_rows, data_rows

    def _glidein(self, job: Job, undo: dict[str, GlideinState | None]) -> GlideinState:
        state = self.glideins.get(job.glidein)
        if state is None:
            state = GlideinState(
                id=self._next_glidein_id(),
                name=job.glidein,
                entry=job.entry,
                seen=SeenSet(),
            )
            self.glideins[job.glidein] = state
            undo.setdefault(job.glidein, None)
        elif job.glidein not in undo:
            saved = copy.copy(state)
            saved.seen = state.seen.copy()
            undo[job.glidein] = saved
        return state

    def _next_glidein_id(self) -> int:
        self._glidein_seq += 1
        return self._glidein_seq

    def _batch_row(
        self,
        batch_id: int,
        state: GlideinState,
        batch: ParsedBatch,
        new: range | list[int],
        received: float,
    ) -> tuple[tuple[object, ...], bytes, list[str]]:
        seqs, tss, levels, events, lines, msgs = (
            batch.seqs,
            batch.ts,
            batch.levels,
            batch.events,
            batch.lines,
            batch.msgs,
        )
        if isinstance(new, range) and len(new) == len(seqs):
            chosen_lines, chosen_ts, chosen_levels, chosen_events = lines, tss, levels, events
            chosen_msgs = msgs
        else:
            chosen_lines = [lines[i] for i in new]
            chosen_ts = [tss[i] for i in new]
            chosen_levels = [levels[i] for i in new]
            chosen_events = [events[i] for i in new]
            chosen_msgs = [msgs[i] for i in new]
        level_bits = 0
        for level in set(chosen_levels):
            level_bits |= 1 << level
        event_set = set(chosen_events)
        data = b"\n".join(chosen_lines)
        min_ts, max_ts = min(chosen_ts), max(chosen_ts)
        state.record_count += len(chosen_lines)
        state.bytes += len(data)
        state.first_ts = min_ts if state.first_ts is None else min(state.first_ts, min_ts)
        state.last_ts = max_ts if state.last_ts is None else max(state.last_ts, max_ts)
        state.last_received = received
        if level_bits & ~(LEVEL_BITS["debug"] | LEVEL_BITS["info"] | LEVEL_BITS["warning"]):
            for i, level in enumerate(chosen_levels):
                ts = chosen_ts[i]
                if level >= ERROR_LEVEL and (
                    state.last_error_ts is None or ts >= state.last_error_ts
                ):
                    state.last_error_ts = ts
                    state.last_error = chosen_msgs[i] or chosen_events[i]
        if not state.ended and not event_set.isdisjoint(END_EVENTS):
            state.ended = True
        row = (
            batch_id,
            state.id,
            received,
            min_ts,
            max_ts,
            level_bits,
            " " + " ".join(sorted(event_set)) + " ",
            len(chosen_lines),
            len(data),
        )
        return row, data, chosen_msgs

    def _undo(self, undo: dict[str, GlideinState | None]) -> None:
        for name, saved in undo.items():
            if saved is None:
                self.glideins.pop(name, None)
            else:
                self.glideins[name] = saved

    def settle(self, group: list[Job], error: BaseException | None) -> None:
        """Wake each job's request with its result (or `error`) on its event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Job]] = {}
        for job in group:
            if error is not None:
                job.result = error
            by_loop.setdefault(job.loop, []).append(job)
        for loop, jobs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                loop.call_soon_threadsafe(_resolve, jobs)

    def _apply_sync(self) -> None:
        mode = self.synchronous()
        if mode != self._sync_mode:
            self.conn.execute(f"PRAGMA synchronous = {mode}")
            self._sync_mode = mode

    # --- full-text index -----------------------------------------------------------------

    def _index_due(self, since_last: float) -> bool:
        """Index in steps of many records: FTS5 pays per commit (segment flushes and
        merges), so small frequent steps cost several times more per record. During a
        burst of ingest the index takes one small step a second and catches up after."""
        if self.fts_indexed >= self.last_committed:
            return False
        if self._ingest_rate() > BURST_RECORDS_PER_S:
            return since_last >= 1.0
        if self._pending_dropped or self._pending_records >= FTS_STEP_RECORDS:
            return True
        age = self.now() - self._pending[0].received if self._pending else 0.0
        return age >= FTS_MAX_AGE_S or (self.jobs.empty() and since_last >= FTS_IDLE_S)

    def _ingest_rate(self) -> float:
        """Records per second committed over roughly the last second."""
        now = time.monotonic()
        elapsed = now - self._rate_since
        if elapsed >= 1.0:
            self._rate = self._rate_records / elapsed
            self._rate_records = 0
            self._rate_since = now
        return self._rate

    def _merge_index(self) -> None:
        """While idle, merge full-text segments (ingest defers it with a high automerge)."""
        try:
            self.conn.execute("BEGIN")
            before = self.conn.total_changes
            self.conn.execute("INSERT INTO batch_fts (batch_fts, rank) VALUES ('merge', 200)")
            self.conn.execute("COMMIT")
            self._unmerged = self.conn.total_changes - before > 1
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            log.warning("logs.index_merge_failed", error=str(exc))
            self._unmerged = False

    def _fts_step(self, budget: int = FTS_STEP_BATCHES) -> None:
        step = FTS_BURST_STEP if self._rate > BURST_RECORDS_PER_S else FTS_STEP_RECORDS
        if self._pending_dropped and self._rate > BURST_RECORDS_PER_S:
            budget = max(1, budget // 8)
        batches: list[tuple[int, list[str]]] = []
        if self._pending_dropped:
            batches = self._unindexed_from_db(budget)
            if not batches:
                self._pending_dropped = False
        else:
            records = 0
            while self._pending and records < step:
                item = self._pending.popleft()
                self._pending_records -= len(item.msgs)
                if item.batch_id > self.fts_indexed:
                    batches.append((item.batch_id, item.msgs))
                    records += len(item.msgs)
        if not batches:
            self.fts_indexed = self.last_committed
            return
        top = batches[-1][0]
        rows = [row for batch_id, msgs in batches for row in fts_rows(batch_id, msgs)]
        try:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO batch_fts (rowid, msg) VALUES (?, ?)", rows)
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'fts_indexed'", (top,))
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            log.error("logs.index_failed", error=str(exc))
            self._pending_dropped = True
            return
        self.fts_indexed = top
        self._unmerged = True

    def _unindexed_from_db(self, budget: int) -> list[tuple[int, list[str]]]:
        cur = self.conn.execute(
            "SELECT b.id, d.lines FROM batches b JOIN batch_data d ON d.id = b.id"
            " WHERE b.id > ? ORDER BY b.id LIMIT ?",
            (self.fts_indexed, budget),
        )
        return [(batch_id, batch_msgs(data)) for batch_id, data in cur]

    def _update_lag(self) -> None:
        if self.fts_indexed >= self.last_committed:
            self.index_lag_s = 0.0
            return
        if self._pending and not self._pending_dropped:
            oldest = self._pending[0].received
        else:
            row = self.conn.execute(
                "SELECT received FROM batches WHERE id > ? ORDER BY id LIMIT 1",
                (self.fts_indexed,),
            ).fetchone()
            oldest = row[0] if row else self.now()
        self.index_lag_s = max(0.0, self.now() - oldest)

    def _drain_fts(self, deadline_s: float = 5.0) -> None:
        end = time.monotonic() + deadline_s
        while self.fts_indexed < self.last_committed and time.monotonic() < end:
            before = self.fts_indexed
            self._fts_step(2000)
            if self.fts_indexed == before:
                break

    def _maintain(self) -> None:
        try:
            self.maintenance(self)
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            log.error("logs.maintenance_failed", error=str(exc))


def batch_msgs(data: bytes) -> list[str]:
    """The messages of a stored batch, one per record."""
    return [str(orjson.loads(line).get("msg", "")) for line in data.split(b"\n")]


def fts_rows(batch_id: int, msgs: list[str]) -> list[tuple[int, str]]:
    """Full-text index rows of a batch: one per record with a message, rowid =
    batch id and line number (`rowid >> LINE_BITS` is the batch)."""
    base = batch_id << LINE_BITS
    return [(base | i, msg) for i, msg in enumerate(msgs) if msg]


def _new_indexes(seen: SeenSet, batch: ParsedBatch) -> range | list[int]:
    """Indexes of the batch's records not stored before; marks them seen."""
    seqs = batch.seqs
    if not seqs:
        return range(0)
    if batch.increasing and seqs[0] > seen.top:
        if seqs[-1] - seqs[0] == len(seqs) - 1:
            seen.add_run(seqs[0], seqs[-1])
        else:
            for seq in seqs:
                seen.add(seq)
        return range(len(seqs))
    new: list[int] = []
    for i, seq in enumerate(seqs):
        if seq not in seen:
            seen.add(seq)
            new.append(i)
    return new


def _resolve(jobs: list[Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if isinstance(job.result, BaseException):
            job.future.set_exception(job.result)
        elif job.result is not None:
            job.future.set_result(job.result)
