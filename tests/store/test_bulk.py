"""Rows inserted in a few multi-row statements: every row lands, once, in order."""

from __future__ import annotations

import sqlite3

import pytest

from aglidein.store.bulk import MAX_ROWS, insert_rows


@pytest.mark.parametrize("count", [0, 1, 2, 13, MAX_ROWS, MAX_ROWS * 2 + 3])
def test_every_row_lands_once(count: int) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
    rows = [(i, f"n{i}", bytes([i % 256]) * 3) for i in range(count)]
    insert_rows(conn, "t", rows)
    assert conn.execute("SELECT id, name, data FROM t ORDER BY id").fetchall() == rows


def test_or_replace_overwrites_rows_of_the_same_key() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    insert_rows(conn, "t", [(1, "a"), (2, "b")])
    insert_rows(conn, "t", [(2, "c"), (3, "d")], verb="INSERT OR REPLACE")
    assert conn.execute("SELECT * FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "c"), (3, "d")]
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(conn, "t", [(3, "e")])
