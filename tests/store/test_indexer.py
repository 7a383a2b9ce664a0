"""The full-text indexer: the index rows of a stored batch (one per record with a
message), and its lag (how long the oldest unindexed batch has waited)."""

from __future__ import annotations

import sqlite3
import time

import orjson

from aglidein.store.indexer import (
    BURST_RECORDS_PER_S,
    LINE_BITS,
    RATE_WINDOW_S,
    STEP_RECORDS,
    Indexer,
    Pending,
    batch_msgs,
    fts_rows,
)
from aglidein.store.schema import migrate


def test_index_rows_carry_batch_and_line_and_skip_empty_messages() -> None:
    data = b"\n".join(orjson.dumps(r) for r in [{"msg": "a b"}, {"event": "x"}, {"msg": "c"}])
    msgs = batch_msgs(data)
    assert msgs == ["a b", "", "c"]
    rows = fts_rows(7, msgs)
    assert rows == [(7 << LINE_BITS, "a b"), ((7 << LINE_BITS) | 2, "c")]
    assert {rowid >> LINE_BITS for rowid, _ in rows} == {7}


def _store_with_batches(received: list[float]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, ":memory:")
    conn.executemany(
        "INSERT INTO batches VALUES (?, 1, ?, 0, 0, 0, ' a.b ', 1, 10)",
        [(i + 1, at) for i, at in enumerate(received)],
    )
    return conn


def test_lag_read_from_the_database_follows_retention() -> None:
    conn = _store_with_batches([100.0, 200.0])
    indexer = Indexer(conn, indexed=0, committed=2, now=lambda: 300.0)
    indexer._update_lag()
    assert indexer.lag_s == 200.0
    conn.execute("DELETE FROM batches WHERE id = 1")  # retention took the oldest
    indexer.batches_deleted()
    indexer._update_lag()
    assert indexer.lag_s == 100.0


def test_no_lag_once_everything_is_indexed() -> None:
    conn = _store_with_batches([100.0])
    indexer = Indexer(conn, indexed=1, committed=1, now=lambda: 300.0)
    indexer._update_lag()
    assert indexer.lag_s == 0.0


def test_a_burst_of_ingest_defers_the_index_within_a_fraction_of_a_second() -> None:
    conn = _store_with_batches([])
    indexer = Indexer(conn, indexed=0, committed=0)
    many = int(BURST_RECORDS_PER_S * RATE_WINDOW_S * 2)  # twice the burst rate
    indexer.add(1, [Pending(1, time.time(), ["m"] * STEP_RECORDS)], STEP_RECORDS)
    assert indexer._due(0.0, idle=False)  # a full step waits: index it, as usual
    indexer.add(2, [Pending(2, time.time(), ["m"] * many)], many)
    time.sleep(RATE_WINDOW_S * 1.2)
    assert not indexer._due(0.5, idle=False)  # a burst: one step a second
    assert indexer._due(1.0, idle=False)
