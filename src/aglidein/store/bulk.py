"""Many rows into one table in few statements: one multi-row INSERT per power of two
of rows (13 rows: 8, 4, 1), so a group commit steps SQLite a few times, not once a
row. Each step lets go of the GIL and must take it back, which costs a wait whenever
another thread is parsing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import cache

__all__ = ["insert_rows"]

MAX_ROWS = 512  # rows a statement at most: 512 x 12 columns is under SQLite's 32766 bound


@cache
def _sql(verb: str, table: str, width: int, rows: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return f"{verb} INTO {table} VALUES " + ", ".join([row] * rows)


def insert_rows(
    conn: sqlite3.Connection,
    table: str,
    rows: Sequence[Sequence[object]],
    *,
    verb: str = "INSERT",
) -> None:
    """`verb INTO table VALUES (...), (...), ...` for every row (all of one width)."""
    if not rows:
        return
    width = len(rows[0])
    start = 0
    while start < len(rows):
        left = len(rows) - start
        count = min(MAX_ROWS, 1 << (left.bit_length() - 1))
        chunk = rows[start : start + count]
        conn.execute(_sql(verb, table, width, count), [v for row in chunk for v in row])
        start += count
