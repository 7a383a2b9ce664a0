"""Retention for the SQLite log store: by age (`logs.retention`) and by total size
(`logs.max_bytes`, oldest glideins first). Runs on the writer thread."""

from __future__ import annotations

import sqlite3
from typing import Protocol, TypeVar

import structlog

from aglidein.store.indexer import Indexer, batch_msgs, fts_rows
from aglidein.store.userjobs import delete_glidein_jobs

__all__ = ["GlideinRow", "RetentionTarget", "delete_batches", "enforce", "used_bytes"]

log = structlog.get_logger()
CHUNK = 500


class GlideinRow(Protocol):
    """What retention reads and adjusts of one glidein the writer keeps in memory."""

    id: int
    name: str
    last_received: float
    record_count: int
    bytes: int

    def row(self) -> tuple[object, ...]:
        """The values of its `glideins` row."""
        ...


G = TypeVar("G", bound=GlideinRow)


class RetentionTarget(Protocol[G]):
    """The writer as retention sees it: its connection, its glideins and how far the
    full-text index reaches. (A Protocol, so that retention does not import the writer
    that calls it: no import cycle.)"""

    conn: sqlite3.Connection
    glideins: dict[str, G]
    indexer: Indexer  # told when batches go, so its lag looks again

    @property
    def fts_indexed(self) -> int:
        """The last batch id in the full-text index."""
        ...


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database in use (free pages excluded)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def enforce(writer: RetentionTarget[G], *, now: float, retention_s: float, max_bytes: int) -> int:
    """Delete what is older than `retention_s`, then whole glideins (least recently
    heard from first) while the store is over `max_bytes`. Returns records deleted."""
    deleted = 0
    cutoff = now - retention_s
    while True:
        rows = writer.conn.execute(
            "SELECT id, glidein_id, n, bytes FROM batches WHERE received < ? ORDER BY id LIMIT ?",
            (cutoff, CHUNK),
        ).fetchall()
        if not rows:
            break
        deleted += delete_batches(writer, rows)
    for state in [g for g in writer.glideins.values() if g.last_received < cutoff]:
        if state.record_count <= 0:
            _delete_glidein(writer, state.name)
    used = used_bytes(writer.conn)
    over = used - max_bytes
    if over > 0:
        target = over + max_bytes // 10
        # A glidein frees about its share of the store: its records' bytes times what
        # the store keeps a record byte in (lines are stored compressed: blobs)
        record_bytes = sum(g.bytes for g in writer.glideins.values())
        scale = min(1.0, used / record_bytes) if record_bytes else 1.0
        freed = 0
        for state in sorted(writer.glideins.values(), key=lambda g: g.last_received):
            if freed >= target:
                break
            freed += int(state.bytes * scale) + 200 * max(1, state.record_count // 100)
            deleted += _delete_glidein(writer, state.name)
        log.warning("logs.size_retention", deleted_records=deleted, max_bytes=max_bytes)
    if deleted:
        log.info("logs.retention", deleted_records=deleted)
    return deleted


def delete_batches(writer: RetentionTarget[G], rows: list[tuple[int, int, int, int]]) -> int:
    """Delete batches (id, glidein_id, n, bytes) with their data and index entries."""

    by_id = {g.id: g for g in writer.glideins.values()}
    ids = [(row[0],) for row in rows]
    conn = writer.conn
    taken: list[tuple[G, int, int]] = []
    conn.execute("BEGIN")
    try:
        indexed = [row[0] for row in rows if row[0] <= writer.fts_indexed]
        for batch_id in indexed:
            data = conn.execute("SELECT lines FROM batch_data WHERE id = ?", (batch_id,)).fetchone()
            if data is not None:
                conn.executemany(
                    "INSERT INTO batch_fts (batch_fts, rowid, msg) VALUES ('delete', ?, ?)",
                    fts_rows(batch_id, batch_msgs(data[0])),
                )
        conn.executemany("DELETE FROM batch_data WHERE id = ?", ids)
        conn.executemany("DELETE FROM batches WHERE id = ?", ids)
        writer.indexer.batches_deleted()
        touched = set()
        for _, glidein_id, n, size in rows:
            state = by_id.get(glidein_id)
            if state is not None:
                state.record_count -= n
                state.bytes -= size
                taken.append((state, n, size))
                touched.add(state.name)
        conn.executemany(
            "INSERT OR REPLACE INTO glideins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [writer.glideins[name].row() for name in touched],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        for state, n, size in taken:  # only what was taken off before the failure
            state.record_count += n
            state.bytes += size
        raise
    return sum(row[2] for row in rows)


def _delete_glidein(writer: RetentionTarget[G], name: str) -> int:
    state = writer.glideins[name]
    deleted = 0
    while True:
        rows = writer.conn.execute(
            "SELECT id, glidein_id, n, bytes FROM batches WHERE glidein_id = ? ORDER BY id LIMIT ?",
            (state.id, CHUNK),
        ).fetchall()
        if not rows:
            break
        deleted += delete_batches(writer, rows)
    delete_glidein_jobs(writer.conn, state.id)
    writer.conn.execute("DELETE FROM glideins WHERE id = ?", (state.id,))
    del writer.glideins[name]
    return deleted
