"""Background full-text indexing of record messages, on the log store's writer thread.

One FTS5 row per record (rowid = batch id << LINE_BITS | line), filled in steps of many
records: FTS5 pays per commit (segment flushes, merges), so small frequent steps cost
several times more per record. During a burst of ingest (seen within a quarter of a
second) the index takes one small step a second and catches up afterwards; searches
report how far behind it is.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import structlog

from aglidein.store.blobs import unpack_lines

__all__ = ["LINE_BITS", "Indexer", "Pending", "batch_msgs", "fts_rows"]

log = structlog.get_logger()

LINE_BITS = 20  # a batch (≤ 8 MiB) holds far fewer than 2**20 records
STEP_BATCHES = 400  # when re-reading unindexed batches from the database
STEP_RECORDS = 20_000  # index in steps of about this many records ...
MAX_AGE_S = 1.0  # ... or once the oldest unindexed record is this old ...
IDLE_S = 0.3  # ... or after this long when no request waits
MERGE_IDLE_S = 5.0
BURST_RECORDS_PER_S = 30_000  # above this ingest rate the index yields ...
BURST_STEP = 5_000  # ... to one step of this many records a second
RATE_WINDOW_S = 0.25  # the ingest rate is measured over this long: a burst is seen at once
PENDING_MAX = 200_000  # records whose messages are kept in memory for the indexer


@dataclass
class Pending:
    """A committed batch not yet in the full-text index."""

    batch_id: int
    received: float
    msgs: list[str]


def batch_msgs(data: bytes) -> list[str]:
    """The messages of a stored batch (`batch_data.lines`), one per record."""
    return [str(orjson.loads(line).get("msg", "")) for line in unpack_lines(data).split(b"\n")]


def fts_rows(batch_id: int, msgs: list[str]) -> list[tuple[int, str]]:
    """Full-text index rows of a batch: one per record with a message, rowid =
    batch id and line number (`rowid >> LINE_BITS` is the batch)."""
    base = batch_id << LINE_BITS
    return [(base | i, msg) for i, msg in enumerate(msgs) if msg]


@dataclass
class Indexer:
    """What is indexed (`indexed`, a batch id) and what waits to be."""

    conn: sqlite3.Connection
    indexed: int
    committed: int
    now: Callable[[], float] = time.time
    lag_s: float = 0.0
    _pending: deque[Pending] = field(default_factory=deque)
    _pending_records: int = 0
    _from_db: bool = False  # messages no longer in memory: re-read them
    _unmerged: bool = True
    _last_step: float = field(default_factory=time.monotonic)
    _rate_records: int = 0
    _rate_since: float = field(default_factory=time.monotonic)
    _rate: float = 0.0
    # (indexed, received of the first batch after it): one query per index step, not one
    # per writer tick, while the messages are re-read from the database
    _oldest_after: tuple[int, float] = (-1, 0.0)

    def __post_init__(self) -> None:
        self._from_db = self.indexed < self.committed

    @property
    def behind(self) -> bool:
        """Some committed batch is not indexed yet."""
        return self.indexed < self.committed

    def add(self, top: int, pending: list[Pending], records: int) -> None:
        """Batches up to `top` were committed; these hold their messages."""
        self.committed = top
        self._rate_records += records
        if self._pending_records < PENDING_MAX and not self._from_db:
            self._pending.extend(pending)
            self._pending_records += sum(len(p.msgs) for p in pending)
        else:
            self._from_db = True

    def tick(self, idle: bool) -> None:
        """Index a step if one is due, else merge segments when idle; update the lag."""
        now = time.monotonic()
        since = now - self._last_step
        if self._due(since, idle):
            self._last_step = now
            try:
                self.step()
            except Exception:  # the index trails; ingest must go on
                log.exception("logs.index_failed")
                self._from_db = True
        elif self._unmerged and idle and since > MERGE_IDLE_S:
            self._last_step = now
            self._merge()
        with contextlib.suppress(sqlite3.Error):
            self._update_lag()

    def _due(self, since_last: float, idle: bool) -> bool:
        if not self.behind:
            return False
        if self._ingest_rate() > BURST_RECORDS_PER_S:
            return since_last >= 1.0
        if self._from_db or self._pending_records >= STEP_RECORDS:
            return True
        age = self.now() - self._pending[0].received if self._pending else 0.0
        return age >= MAX_AGE_S or (idle and since_last >= IDLE_S)

    def _ingest_rate(self) -> float:
        now = time.monotonic()
        elapsed = now - self._rate_since
        if elapsed >= RATE_WINDOW_S:
            self._rate = self._rate_records / elapsed
            self._rate_records = 0
            self._rate_since = now
        return self._rate

    def step(self, budget: int = STEP_BATCHES) -> None:
        """Index the next step of batches in one transaction."""
        burst = self._rate > BURST_RECORDS_PER_S
        batches: list[tuple[int, list[str]]] = []
        if self._from_db:
            batches = self._unindexed_from_db(max(1, budget // 8) if burst else budget)
            if not batches:
                self._from_db = False
        else:
            step = BURST_STEP if burst else STEP_RECORDS
            records = 0
            while self._pending and records < step:
                item = self._pending.popleft()
                self._pending_records -= len(item.msgs)
                if item.batch_id > self.indexed:
                    batches.append((item.batch_id, item.msgs))
                    records += len(item.msgs)
        if not batches:
            self.indexed = self.committed
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
            self._from_db = True
            return
        self.indexed = top
        self._unmerged = True

    def _merge(self) -> None:
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

    def _unindexed_from_db(self, budget: int) -> list[tuple[int, list[str]]]:
        cur = self.conn.execute(
            "SELECT b.id, d.lines FROM batches b JOIN batch_data d ON d.id = b.id"
            " WHERE b.id > ? ORDER BY b.id LIMIT ?",
            (self.indexed, budget),
        )
        return [(batch_id, batch_msgs(data)) for batch_id, data in cur]

    def batches_deleted(self) -> None:
        """Retention deleted batches (perhaps unindexed ones): look up the oldest again."""
        self._oldest_after = (-1, 0.0)

    def _update_lag(self) -> None:
        if not self.behind:
            self.lag_s = 0.0
            return
        if self._pending and not self._from_db:
            oldest = self._pending[0].received
        elif self._oldest_after[0] == self.indexed:
            oldest = self._oldest_after[1]  # the first unindexed batch has not changed
        else:
            row = self.conn.execute(
                "SELECT received FROM batches WHERE id > ? ORDER BY id LIMIT 1",
                (self.indexed,),
            ).fetchone()
            if row is None:
                oldest = self.now()
            else:
                oldest = row[0]
                self._oldest_after = (self.indexed, oldest)
        self.lag_s = max(0.0, self.now() - oldest)

    def drain(self, deadline_s: float = 5.0) -> None:
        """Index what is left, for at most `deadline_s` (at shutdown)."""
        end = time.monotonic() + deadline_s
        self._rate = 0.0
        while self.behind and time.monotonic() < end:
            before = self.indexed
            self.step(2000)
            if self.indexed == before:
                break
