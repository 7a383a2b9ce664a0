"""The log store's one writer thread: group commit, deduplication, background FTS
indexing and retention, all on one SQLite connection.

Requests enqueue batches (a thread-safe queue: the thread never waits on the event
loop to take work); the writer takes every queued batch, stores them in one
transaction, and hands the whole group back through `notify` only after COMMIT
returned — one call per transaction, which the store turns into one task on the event
loop that wakes every waiting request (`SqliteLogStore`, which runs this thread in its
task group). With WAL and `synchronous=NORMAL` a committed transaction survives a
crash of the process; with `FULL` also a power loss. The writer process (`writer_child`)
drives the same writer without the queue: each of its turns hands `cycle` the group.
"""

from __future__ import annotations

import contextlib
import copy
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import structlog

from aglidein.core.records import END_EVENTS, LEVEL_BITS, ParsedBatch
from aglidein.errors import StoreError, StoreFull
from aglidein.store.api import GlideinUsage, IngestResult
from aglidein.store.blobs import pack_lines
from aglidein.store.bulk import insert_rows
from aglidein.store.indexer import Indexer, Pending
from aglidein.store.ranges import SeenSet
from aglidein.store.retention import used_bytes
from aglidein.store.usage import USAGE_EVENTS, UsageNotes

__all__ = ["MAX_GROUP_RECORDS", "GlideinState", "Job", "Writer", "store_error"]

log = structlog.get_logger()

ERROR_LEVEL = 3  # index of "error" in LEVELS
MAX_GROUP_RECORDS = 50_000
MAINTENANCE_EVERY = 30.0
LINGER_BELOW = 4  # jobs: a smaller group waits up to LINGER_S for company
LINGER_S = 0.002
SIZE_EVERY = 2.0


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
    """One request's batch waiting for the writer; `done` is set (on the event loop)
    once `result` holds what happened to it. In the writer process (`writer_child`) a
    job has no event: `key` names the daemon's request."""

    glidein: str
    entry: str
    batch: ParsedBatch
    done: anyio.Event | None = None
    key: int = 0
    result: IngestResult | BaseException | None = None

    def outcome(self) -> IngestResult:
        """The result once `done`; the store's error is raised."""
        if isinstance(self.result, BaseException):
            raise self.result
        if self.result is None:
            raise StoreError("log store lost a batch")  # never: settle sets every result
        return self.result


def _ignore_settled(jobs: list[Job], committed: bool, usage: list[GlideinUsage]) -> None:
    """The default `notify`: nobody waits (tests of the thread alone)."""


@dataclass
class Writer:
    """The writer thread's state; `run()` is the thread body."""

    conn: sqlite3.Connection
    glideins: dict[str, GlideinState]
    next_batch: int
    indexer: Indexer
    synchronous: Callable[[], str]
    maintenance: Callable[[Writer], None]
    now: Callable[[], float] = time.time
    jobs: queue.SimpleQueue[Job | None] = field(default_factory=queue.SimpleQueue)
    last_committed: int = 0
    last_error: str | None = None
    # called on this thread after each transaction (and failure) with the jobs it
    # settled, whether new records were committed and what those records say of
    # glideins' time (usage, for the accounting); must not block
    notify: Callable[[list[Job], bool, list[GlideinUsage]], None] = _ignore_settled
    _sync_mode: str = ""
    _glidein_seq: int = 0
    size_bytes: int = 0
    maintain_now: threading.Event = field(default_factory=threading.Event)
    maintained: threading.Event = field(default_factory=threading.Event)
    _last_maintenance: float = field(default_factory=time.monotonic)
    _last_size: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._glidein_seq = max((g.id for g in self.glideins.values()), default=0)
        self.last_committed = self.next_batch - 1

    @property
    def fts_indexed(self) -> int:
        """The newest batch in the full-text index."""
        return self.indexer.indexed

    @property
    def index_lag_s(self) -> float:
        """Seconds the full-text index trails ingest."""
        return self.indexer.lag_s

    # --- thread body ---------------------------------------------------------------------

    def run(self) -> None:
        """Take jobs until a None arrives; commit them in groups; index and maintain."""
        while True:
            group, stop = self._take(timeout=self.wait_s())
            self.cycle(group, idle=self.jobs.empty())
            if stop:
                break
        self.indexer.drain()

    def wait_s(self) -> float:
        """How long to wait for work before the next `cycle`: briefly while the index
        trails or maintenance is asked for."""
        return 0.05 if self.indexer.behind or self.maintain_now.is_set() else 1.0

    def cycle(self, group: list[Job], *, idle: bool) -> None:
        """Commit a group of jobs (in one transaction), then take an index step and run
        maintenance if due (`idle`: no other job waits)."""
        if group:
            self._commit_group(group)
        self.indexer.tick(idle=idle)
        now = time.monotonic()
        if now - self._last_maintenance >= MAINTENANCE_EVERY or self.maintain_now.is_set():
            self._last_maintenance = now
            self.maintain_now.clear()
            try:
                self._maintain()
            finally:
                self.maintained.set()
        if now - self._last_size >= SIZE_EVERY:
            self._last_size = now
            with contextlib.suppress(sqlite3.Error):
                self.size_bytes = used_bytes(self.conn)

    def _take(self, timeout: float) -> tuple[list[Job], bool]:
        """Every queued job (up to MAX_GROUP_RECORDS records) and whether None was seen."""
        try:
            item = self.jobs.get(timeout=timeout)
        except queue.Empty:
            return [], False
        group: list[Job] = []
        records = 0
        lingered = False
        while item is not None:
            group.append(item)
            records += len(item.batch)
            if records >= MAX_GROUP_RECORDS:
                return group, False
            try:
                item = self.jobs.get_nowait()
            except queue.Empty:
                if lingered or len(group) >= LINGER_BELOW:
                    return group, False
                # A short wait lets concurrent requests share the commit: fewer,
                # larger transactions cost less per record (WAL frames, fsync).
                lingered = True
                try:
                    item = self.jobs.get(timeout=LINGER_S)
                except queue.Empty:
                    return group, False
        return group, True

    # --- ingest --------------------------------------------------------------------------

    def _commit_group(self, group: list[Job]) -> None:
        undo: dict[str, GlideinState | None] = {}
        first_batch = self.next_batch
        pending: list[Pending] = []
        notes = UsageNotes()
        try:
            batch_rows, data_rows = self._prepare(group, undo, pending, notes)
            self._apply_sync()
            self.conn.execute("BEGIN")
            insert_rows(self.conn, "batches", batch_rows)
            insert_rows(self.conn, "batch_data", data_rows)
            usage = notes.write(self.conn)
            insert_rows(
                self.conn,
                "glideins",
                [self.glideins[name].row() for name in undo],
                verb="INSERT OR REPLACE",
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
            records = sum(len(p.msgs) for p in pending)
            self.indexer.add(self.last_committed, pending, records)
        self.notify(group, bool(batch_rows), usage)

    def _prepare(
        self,
        group: list[Job],
        undo: dict[str, GlideinState | None],
        pending: list[Pending],
        notes: UsageNotes,
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
            row, data, msgs = self._batch_row(batch_id, state, job.batch, new, received, notes)
            batch_rows.append(row)
            data_rows.append((batch_id, data))
            pending.append(Pending(batch_id, received, msgs))
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
        notes: UsageNotes,
    ) -> tuple[tuple[object, ...], bytes, list[str]]:
        """The batch's `batches` row (its size is that of the records), its stored lines
        (`blobs.pack_lines`) and its messages; the glidein's state is brought up to date."""
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
        if not event_set.isdisjoint(USAGE_EVENTS):  # user jobs, a glidein's end: rare
            notes.note(state.id, state.name, state.entry, chosen_events, chosen_lines)
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
        return row, pack_lines(data), chosen_msgs

    def _undo(self, undo: dict[str, GlideinState | None]) -> None:
        for name, saved in undo.items():
            if saved is None:
                self.glideins.pop(name, None)
            else:
                self.glideins[name] = saved

    def settle(self, group: list[Job], error: BaseException) -> None:
        """Give every job of a failed group `error` and hand them back."""
        for job in group:
            job.result = error
        self.notify(group, False, [])

    def _apply_sync(self) -> None:
        mode = self.synchronous()
        if mode != self._sync_mode:
            self.conn.execute(f"PRAGMA synchronous = {mode}")
            self._sync_mode = mode

    def _maintain(self) -> None:
        try:
            self.maintenance(self)
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            log.error("logs.maintenance_failed", error=str(exc))


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
