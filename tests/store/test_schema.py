"""The log store's schema: a new database is migrated; one from a newer aglidein refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aglidein.errors import StoreError
from aglidein.store.schema import SCHEMA_VERSION, migrate


def _open(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_new_database_gets_every_table_once(tmp_path: Path) -> None:
    conn = _open(tmp_path / "logs.db")
    migrate(conn, "logs.db")
    migrate(conn, "logs.db")  # a second start changes nothing
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"glideins", "batches", "batch_data", "batch_fts", "meta"} <= tables
    assert conn.execute("SELECT value FROM meta WHERE key='fts_indexed'").fetchone() == (0,)


def test_a_database_from_a_newer_aglidein_is_refused(tmp_path: Path) -> None:
    conn = _open(tmp_path / "logs.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this aglidein understands"):
        migrate(conn, "logs.db")
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
