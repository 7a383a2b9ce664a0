"""Retention: batches older than the retention go, then whole glideins (least recently
heard from first) while the store is over its size; counts follow what is deleted."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aglidein.store.indexer import Indexer
from aglidein.store.retention import delete_batches, enforce, used_bytes
from aglidein.store.schema import migrate


@dataclass
class Glidein:
    id: int
    name: str
    last_received: float
    record_count: int = 0
    bytes: int = 0

    def row(self) -> tuple[object, ...]:
        return (self.id, self.name, "CE", 0.0, 0.0, self.last_received,
                self.record_count, self.bytes, None, None, 0, None)  # fmt: skip


@dataclass
class Store:
    conn: sqlite3.Connection
    glideins: dict[str, Glidein]
    fts_indexed: int = 0
    indexer: Indexer = field(init=False)

    def __post_init__(self) -> None:
        self.indexer = Indexer(self.conn, self.fts_indexed, 0)

    def add(
        self, name: str, received: list[float], size: int = 100, stored: int | None = None
    ) -> None:
        """Batches of `size` record bytes, each kept in `stored` bytes (compressed)."""
        state = self.glideins.get(name)
        if state is None:
            state = self.glideins[name] = Glidein(len(self.glideins) + 1, name, 0.0)
        for when in received:
            cur = self.conn.execute(
                "INSERT INTO batches (glidein_id, received, min_ts, max_ts, levels, events, n,"
                " bytes) VALUES (?, ?, 0, 0, 1, 'a.b', 2, ?)",
                (state.id, when, size),
            )
            self.conn.execute(
                "INSERT INTO batch_data VALUES (?, ?)", (cur.lastrowid, os.urandom(stored or size))
            )
            state.record_count += 2
            state.bytes += size
            state.last_received = max(state.last_received, when)
        self.conn.execute(
            "INSERT OR REPLACE INTO glideins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            state.row(),
        )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    conn = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
    migrate(conn, "logs.db")
    return Store(conn, {})


def _batches(store: Store) -> list[tuple[int, float]]:
    return store.conn.execute("SELECT glidein_id, received FROM batches ORDER BY id").fetchall()


def test_old_batches_go_and_glideins_left_empty_with_them(store: Store) -> None:
    store.add("old", [10.0, 20.0])
    store.add("mixed", [15.0, 500.0])
    deleted = enforce(store, now=1000.0, retention_s=900.0, max_bytes=1 << 40)
    assert deleted == 6
    assert _batches(store) == [(2, 500.0)]
    assert set(store.glideins) == {"mixed"}
    assert store.glideins["mixed"].record_count == 2
    assert store.conn.execute("SELECT name FROM glideins").fetchall() == [("mixed",)]


def test_over_size_the_least_recently_heard_glideins_go_whole(store: Store) -> None:
    store.add("quiet", [100.0] * 20, size=4000)
    store.add("busy", [900.0] * 20, size=4000)
    limit = used_bytes(store.conn) - 20 * 4000 // 2
    deleted = enforce(store, now=1000.0, retention_s=1e9, max_bytes=limit)
    assert deleted == 40
    assert set(store.glideins) == {"busy"}
    assert {g for g, _ in _batches(store)} == {2}


def test_over_size_compressed_glideins_free_their_share_of_the_store(store: Store) -> None:
    # Records kept in a tenth of their bytes: a glidein frees a tenth of its record
    # bytes, so one pass must delete as many glideins as the store is over by.
    for i in range(6):
        store.add(f"g{i}", [100.0 + i] * 200, size=4000, stored=400)
    limit = used_bytes(store.conn) * 6 // 10
    enforce(store, now=1000.0, retention_s=1e9, max_bytes=limit)
    assert used_bytes(store.conn) <= limit
    assert set(store.glideins) == {f"g{i}" for i in range(6 - len(store.glideins), 6)}
    assert len(store.glideins) >= 2


@pytest.mark.parametrize(
    "dropped",
    [
        "batch_data",  # fails before the counts are taken off
        "glideins",  # fails after: they are put back
    ],
)
def test_a_failed_delete_leaves_counts_as_they_were(store: Store, dropped: str) -> None:
    store.add("g", [10.0])
    rows = store.conn.execute("SELECT id, glidein_id, n, bytes FROM batches").fetchall()
    store.conn.execute(f"DROP TABLE {dropped}")
    with pytest.raises(sqlite3.OperationalError):
        delete_batches(store, rows)
    assert (store.glideins["g"].record_count, store.glideins["g"].bytes) == (2, 100)
    assert len(_batches(store)) == 1
