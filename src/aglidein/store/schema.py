"""The SQLite log store's schema and its forward migrations.

Layout (why): records are stored a batch at a time — one `batches` row of metadata
(glidein, time span, level bits, events) and one `batch_data` row holding the
accepted NDJSON lines — so ingest costs two B-tree inserts per batch, not several per
record. Exactly-once on (glidein, seq) uses the glidein's seen ranges (`glideins.seen`,
updated in the same transaction). `batch_fts` indexes the messages of each batch as one
document, filled by the writer in the background. `user_jobs` maps the user jobs the
pilots recorded to their glidein (a row per glidein and job, written with the batch).
Each migration runs once, in order, in its own transaction (`PRAGMA user_version`), so
a store written by an older aglidein opens and gains the newer tables.
"""

from __future__ import annotations

import sqlite3

from aglidein.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: list[str] = [
    """
    CREATE TABLE glideins (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        entry TEXT NOT NULL,
        first_ts REAL,
        last_ts REAL,
        last_received REAL NOT NULL,
        record_count INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_error_ts REAL,
        ended INTEGER NOT NULL DEFAULT 0,
        seen BLOB
    );
    CREATE INDEX glideins_entry ON glideins (entry, id);
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        glidein_id INTEGER NOT NULL,
        received REAL NOT NULL,
        min_ts REAL NOT NULL,
        max_ts REAL NOT NULL,
        levels INTEGER NOT NULL,
        events TEXT NOT NULL,
        n INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    );
    CREATE INDEX batches_glidein ON batches (glidein_id, id);
    CREATE TABLE batch_data (id INTEGER PRIMARY KEY, lines BLOB NOT NULL);
    CREATE VIRTUAL TABLE batch_fts USING fts5 (
        msg, content='', detail=none, tokenize='unicode61 remove_diacritics 0'
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    INSERT INTO meta VALUES ('fts_indexed', 0);
    """,
    # 2: which glidein ran which user job (the pilot's job.start / job.end records).
    """
    CREATE TABLE user_jobs (
        glidein_id INTEGER NOT NULL,
        job TEXT NOT NULL,
        cluster INTEGER NOT NULL,
        proc INTEGER NOT NULL,
        schedd TEXT NOT NULL,
        owner TEXT,
        start_ts REAL,
        end_ts REAL,
        exit_code INTEGER,
        exit_signal INTEGER,
        PRIMARY KEY (glidein_id, job)
    );
    CREATE INDEX user_jobs_cluster ON user_jobs (cluster, proc);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the database to SCHEMA_VERSION; refuse one written by a newer aglidein."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"log store {path} has schema version {version}, newer than this aglidein "
            f"understands ({SCHEMA_VERSION}); upgrade aglidein"
        )
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    return out
