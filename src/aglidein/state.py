"""The small state database in `state_dir/state.db`: entry health, submission batches,
the last plan, operator actions, scheduled downtimes. Survives restarts; carries a schema version.

sqlite3 runs in one dedicated thread (it releases the GIL); the async methods hand
work to it, so the event loop never waits on disk.

One daemon per state dir: `StateDirLock` holds an exclusive `flock` on
`state_dir/aglidein.lock` (which names the holder's PID) for as long as it runs;
read-only commands (`status`, `plan`, `logs`) never take it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import structlog

from aglidein.core.model import Downtime, EntryHealth, OperatorState
from aglidein.errors import StateError
from aglidein.logkeys import private_database

__all__ = ["LOCK_FILE", "MIGRATIONS", "SCHEMA_VERSION", "BatchRecord", "StateDB", "StateDirLock"]

log = structlog.get_logger()
T = TypeVar("T")

# Forward migrations: MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE entry_health (
        entry TEXT PRIMARY KEY,
        operator TEXT NOT NULL DEFAULT 'enabled',
        drain_hard INTEGER NOT NULL DEFAULT 0,
        backoff_until REAL,
        failures INTEGER NOT NULL DEFAULT 0,
        last_failure REAL,
        last_failure_reason TEXT,
        last_success REAL
    );
    CREATE TABLE batches (
        batch TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        grp TEXT NOT NULL,
        count INTEGER NOT NULL,
        created REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',   -- pending | submitted | failed
        cluster INTEGER,
        detail TEXT
    );
    CREATE INDEX batches_state ON batches(state);
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE downtimes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entry TEXT,                  -- NULL: every entry
        grp TEXT,                    -- NULL: every group
        start REAL NOT NULL,
        end_time REAL,               -- NULL: until ended
        comment TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
    # the factory schedd a batch went to (NULL: before several schedds, the first one)
    "ALTER TABLE batches ADD COLUMN schedd TEXT;",
]
SCHEMA_VERSION = len(MIGRATIONS)
LOCK_FILE = "aglidein.lock"


class StateDirLock:
    """This process's exclusive hold on a state dir; `release()` (or exit) lets it go."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, state_dir: Path) -> StateDirLock:
        """Take the state dir (creating it 0700), or say which process has it."""
        path = state_dir / LOCK_FILE
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"{path}: cannot create the lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise StateError(
                f"factory.state_dir {state_dir} is in use by another aglidein "
                f"(pid {holder}, see {path}); stop it or use another state_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        """Let the state dir go (the file stays: removing it would race a new holder)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    """The PID written in a lock file, or "unknown" while its holder is still writing it."""
    with contextlib.suppress(OSError, ValueError):
        return str(int(os.pread(fd, 32, 0).decode().strip()))
    return "unknown"


class BatchRecord(dict[str, Any]):
    """A row of the batches table (batch, entry, grp, count, created, state, cluster,
    schedd: the factory schedd it was sent to, None for a batch of an older version)."""


class StateDB:
    """The state database; open with `StateDB.open(path)`, close with `close()`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def open(cls, path: Path) -> StateDB:
        """Open (creating if needed) and migrate forward; refuse a newer schema."""
        try:
            private_database(path)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{path}: cannot open state database: {exc}") from None
        if version > SCHEMA_VERSION:
            conn.close()
            raise StateError(
                f"{path}: state database schema {version} is newer than this aglidein "
                f"understands ({SCHEMA_VERSION}); run a newer aglidein or restore a backup"
            )
        for target in range(version, SCHEMA_VERSION):
            try:
                conn.execute("BEGIN")
                for statement in _statements(MIGRATIONS[target]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target + 1}")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                conn.close()
                raise StateError(
                    f"{path}: migration to schema {target + 1} failed: {exc}"
                ) from None
            log.info("state.migrated", path=str(path), schema=target + 1)
        return cls(conn, path)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    @property
    def schema_version(self) -> int:
        """The schema version on disk."""
        return int(self._run_sync(lambda c: c.execute("PRAGMA user_version").fetchone()[0]))

    def _run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise StateError(f"{self.path}: {exc}") from None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._run_sync, fn, limiter=self._limiter)

    # --- entry health -------------------------------------------------------------------

    async def load_health(self) -> dict[str, EntryHealth]:
        """Every persisted entry health."""

        def read(conn: sqlite3.Connection) -> dict[str, EntryHealth]:
            rows = conn.execute(
                "SELECT entry, operator, drain_hard, backoff_until, failures, last_failure,"
                " last_failure_reason, last_success FROM entry_health"
            ).fetchall()
            return {
                row[0]: EntryHealth(
                    entry=row[0],
                    operator=OperatorState(row[1]),
                    drain_hard=bool(row[2]),
                    backoff_until=row[3],
                    failures=row[4],
                    last_failure=row[5],
                    last_failure_reason=row[6],
                    last_success=row[7],
                )
                for row in rows
            }

        return await self._run(read)

    async def save_health(self, health: EntryHealth) -> None:
        """Persist one entry's health (insert or replace)."""
        row = asdict(health)
        row["operator"] = health.operator.value
        row["drain_hard"] = int(health.drain_hard)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO entry_health (entry, operator, drain_hard, backoff_until,"
                " failures, last_failure, last_failure_reason, last_success) VALUES"
                " (:entry, :operator, :drain_hard, :backoff_until, :failures, :last_failure,"
                " :last_failure_reason, :last_success)",
                row,
            )

        await self._run(write)

    # --- submission batches (no double submission) ---------------------------------------

    async def record_batch(
        self, batch: str, entry: str, group: str, count: int, created: float, schedd: str = ""
    ) -> None:
        """Write a batch as pending before it is sent to the schedd."""
        await self._run(
            lambda c: c.execute(
                "INSERT INTO batches (batch, entry, grp, count, created, schedd)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (batch, entry, group, count, created, schedd or None),
            )
        )

    async def finish_batch(
        self, batch: str, state: str, *, cluster: int | None = None, detail: str | None = None
    ) -> None:
        """Mark a batch submitted or failed."""
        await self._run(
            lambda c: c.execute(
                "UPDATE batches SET state = ?, cluster = ?, detail = ? WHERE batch = ?",
                (state, cluster, detail, batch),
            )
        )

    async def pending_batches(self) -> list[BatchRecord]:
        """Batches written but not known to have reached the schedd (after a crash)."""

        def read(conn: sqlite3.Connection) -> list[BatchRecord]:
            cur = conn.execute(
                "SELECT batch, entry, grp, count, created, state, cluster, schedd FROM batches"
                " WHERE state = 'pending' ORDER BY created"
            )
            names = [d[0] for d in cur.description]
            return [BatchRecord(zip(names, row, strict=True)) for row in cur.fetchall()]

        return await self._run(read)

    async def prune_batches(self, older_than: float) -> int:
        """Forget finished batches created before `older_than`."""
        return await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM batches WHERE state != 'pending' AND created < ?", (older_than,)
                ).rowcount
            )
        )

    # --- scheduled downtimes -----------------------------------------------------------

    async def add_downtime(
        self,
        entry: str | None,
        group: str | None,
        start: float,
        end: float | None,
        comment: str,
        created: float,
    ) -> Downtime:
        """Store a new downtime; it is returned with its id."""

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO downtimes (entry, grp, start, end_time, comment, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (entry, group, start, end, comment, created),
            )
            return int(cur.lastrowid or 0)

        number = await self._run(write)
        return Downtime(number, entry, group, start, end, comment, created)

    async def load_downtimes(self, *, ended_after: float | None = None) -> list[Downtime]:
        """Downtimes by start time; with `ended_after`, only those not over by then."""
        return await self._run(lambda c: _downtimes(c, ended_after))

    def load_downtimes_sync(self, *, ended_after: float | None = None) -> list[Downtime]:
        """`load_downtimes` for commands outside an event loop (`aglidein plan`)."""
        return self._run_sync(lambda c: _downtimes(c, ended_after))

    async def end_downtime(self, number: int, now: float) -> Downtime | None:
        """End a downtime at `now` (one not yet started is deleted); None if unknown."""

        def write(conn: sqlite3.Connection) -> Downtime | None:
            found = [d for d in _downtimes(conn, None) if d.id == number]
            if not found:
                return None
            (downtime,) = found
            if downtime.start >= now:
                conn.execute("DELETE FROM downtimes WHERE id = ?", (number,))
                return dataclasses.replace(downtime, end=downtime.start)
            if downtime.end is None or downtime.end > now:
                conn.execute("UPDATE downtimes SET end_time = ? WHERE id = ?", (now, number))
                return dataclasses.replace(downtime, end=now)
            return downtime

        return await self._run(write)

    async def prune_downtimes(self, older_than: float) -> int:
        """Forget downtimes that ended before `older_than`."""
        return await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM downtimes WHERE end_time IS NOT NULL AND end_time < ?",
                    (older_than,),
                ).rowcount
            )
        )

    # --- small values (last plan, policy memory, ...) ------------------------------------

    async def put_json(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under `key`."""
        text = json.dumps(value, sort_keys=True)
        await self._run(
            lambda c: c.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, text))
        )

    async def get_json(self, key: str) -> Any:
        """The value stored under `key`, or None."""
        row = await self._run(
            lambda c: c.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else json.loads(row[0])


def _downtimes(conn: sqlite3.Connection, ended_after: float | None) -> list[Downtime]:
    rows = conn.execute(
        "SELECT id, entry, grp, start, end_time, comment, created FROM downtimes"
        " WHERE ? IS NULL OR end_time IS NULL OR end_time > ? ORDER BY start, id",
        (ended_after, ended_after),
    ).fetchall()
    return [Downtime(*row) for row in rows]


def _statements(script: str) -> list[str]:
    parts, current = [], ""
    for line in script.splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            parts.append(current.strip())
            current = ""
    return [p for p in parts if p]
