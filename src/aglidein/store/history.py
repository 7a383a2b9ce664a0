"""The factory's own time series (`state_dir/history.db`): what each cycle saw, per entry,
per group and for the whole factory, for the status pages' charts.

Every cycle adds one point per series; points fall into buckets of two tiers — one minute,
kept `FINE_KEEP_S` (a day and a bit), and ten minutes, kept `COARSE_KEEP_S` (a week and a
bit) — so a series never holds more than `MAX_ROWS_PER_SERIES` rows whatever the cycle
length. Gauges (glideins by state, demand, requested) are averaged over a bucket, counts
(glideins submitted, exits by reason) summed.

SQLite runs in worker threads, one call at a time; the async methods never block the event
loop. The file is separate from the state DB and the log store: losing it loses charts only.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.abc
import anyio.to_thread
import structlog

from aglidein.errors import StoreError
from aglidein.logkeys import private_database

__all__ = [
    "COARSE",
    "COARSE_KEEP_S",
    "FINE",
    "FINE_KEEP_S",
    "GAUGES",
    "HISTORY_FILE",
    "MAX_ROWS_PER_SERIES",
    "RANGES",
    "SCOPES",
    "HistoryPoint",
    "HistoryRange",
    "HistorySample",
    "HistoryStore",
    "history_range",
]

log = structlog.get_logger()
T = TypeVar("T")

HISTORY_FILE = "history.db"
SCOPES = ("entry", "group", "factory")
GAUGES = ("idle", "running", "held", "black_hole", "demand", "requested")
FINE = 60  # seconds per bucket of the fine tier
COARSE = 600
FINE_KEEP_S = 26 * 3600  # the 24 h range, and a margin
COARSE_KEEP_S = 8 * 86400  # the 7 d range, and a margin
MAX_ROWS_PER_SERIES = FINE_KEEP_S // FINE + 1 + COARSE_KEEP_S // COARSE + 1
_TIERS = ((FINE, FINE_KEEP_S), (COARSE, COARSE_KEEP_S))
_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    tier INTEGER NOT NULL,          -- seconds per bucket
    scope TEXT NOT NULL,            -- entry | group | factory
    name TEXT NOT NULL,
    bucket INTEGER NOT NULL,        -- start of the bucket, epoch seconds
    samples INTEGER NOT NULL,       -- cycles in the bucket; gauges hold sums over them
    idle REAL NOT NULL, running REAL NOT NULL, held REAL NOT NULL, black_hole REAL NOT NULL,
    demand REAL NOT NULL, requested REAL NOT NULL,
    submitted INTEGER NOT NULL,
    last_ts REAL NOT NULL,          -- the latest cycle in the bucket
    PRIMARY KEY (tier, scope, name, bucket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_age ON points (tier, bucket);
CREATE TABLE IF NOT EXISTS exits (
    tier INTEGER NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, bucket INTEGER NOT NULL,
    reason TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (tier, scope, name, bucket, reason)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS exits_age ON exits (tier, bucket);
"""


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """What one cycle saw for one series (an entry, a group, or the factory)."""

    scope: str
    name: str
    idle: int = 0
    running: int = 0
    held: int = 0
    black_hole: int = 0
    demand: int = 0  # idle jobs (matching the entry, for an entry)
    requested: int = 0  # idle glideins wanted
    submitted: int = 0  # glideins submitted this cycle
    exits: Mapping[str, int] = field(default_factory=dict)  # ends read this cycle, by reason


@dataclass(frozen=True, slots=True)
class HistorySample:
    """One bucket of a series: gauges averaged over its cycles, counts summed."""

    ts: float  # start of the bucket
    idle: float
    running: float
    held: float
    black_hole: float
    demand: float
    requested: float
    submitted: int
    exits: Mapping[str, int]

    def value(self, name: str) -> float:
        """A gauge (`idle`, ..., `requested`), `submitted`, or `exits:REASON`."""
        if name.startswith("exits:"):
            return float(self.exits.get(name[6:], 0))
        return float(getattr(self, name))


@dataclass(frozen=True, slots=True)
class HistoryRange:
    """A range the pages offer: how far back, from which tier."""

    name: str
    seconds: int
    resolution: int


RANGES: Mapping[str, HistoryRange] = {
    r.name: r
    for r in (
        HistoryRange("1h", 3600, FINE),
        HistoryRange("24h", 86400, FINE),
        HistoryRange("7d", 7 * 86400, COARSE),
    )
}


def history_range(name: str) -> HistoryRange:
    """The range called `name`; ValueError naming the ranges there are."""
    try:
        return RANGES[name]
    except KeyError:
        raise ValueError(f"range {name!r}: use one of {', '.join(RANGES)}") from None


class HistoryStore:
    """The time-series file; a service (`run` opens it, `stop` closes it)."""

    name = "history"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._stop = anyio.Event()
        self.last_submit: dict[str, float] = {}  # entry -> latest cycle that submitted

    # --- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating) the file; blocking: call it from a thread or before the loop.

        A file SQLite cannot read as a database is moved aside (`history.db.damaged`) and
        a new one started: the history holds charts only, never a reason not to run."""
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(self.path.name + ".damaged")
            log.warning("history.reset", path=str(self.path), moved_to=str(aside), error=str(exc))
            try:
                self.path.replace(aside)
                for suffix in ("-wal", "-shm"):
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
                self._open()
            except (sqlite3.Error, OSError) as again:
                raise StoreError(f"{self.path}: cannot open the history: {again}") from None
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the history: {exc}") from None

    def _open(self) -> None:
        private_database(self.path)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # charts may lose the last seconds
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
            rows = conn.execute(
                "SELECT name, MAX(last_ts) FROM points "
                "WHERE scope = 'entry' AND submitted > 0 GROUP BY name"
            ).fetchall()
        except BaseException:
            conn.close()
            raise
        self.last_submit = {str(name): float(ts) for name, ts in rows}
        self._conn = conn

    @property
    def available(self) -> bool:
        """The file is open (reads of a store that could not open find nothing)."""
        return self._conn is not None

    def close(self) -> None:
        """Close the file (blocking)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open, serve until `stop()`, close. A history that cannot open is logged and
        left closed: the daemon runs on, its cycles count `history_record` failures."""
        try:
            await anyio.to_thread.run_sync(self.open, limiter=self._limiter)
        except StoreError as exc:
            log.error("history.unavailable", path=str(self.path), error=str(exc))
        task_status.started()
        try:
            await self._stop.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.close, limiter=self._limiter)

    async def stop(self) -> None:
        """Let `run` close the file."""
        self._stop.set()

    def _run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the history is not open")
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._run_sync, fn, limiter=self._limiter)

    # --- writing -----------------------------------------------------------------------

    async def record(self, now: float, points: Sequence[HistoryPoint]) -> None:
        """Add one cycle's points (at `now`) and drop what retention no longer keeps."""
        for point in points:
            if point.scope == "entry" and point.submitted > 0:
                self.last_submit[point.name] = now
        await self._run(lambda conn: _write(conn, now, points))

    def record_sync(self, now: float, points: Sequence[HistoryPoint]) -> None:
        """`record` for tests and tools that run no event loop."""
        self._run_sync(lambda conn: _write(conn, now, points))

    # --- reading -----------------------------------------------------------------------

    async def series(
        self, scope: str, name: str, span: HistoryRange, now: float
    ) -> list[HistorySample]:
        """The buckets of one series within `span` before `now`, oldest first."""
        if not self.available:
            return []
        return await self._run(lambda conn: _series(conn, scope, name, span, now))

    async def exit_totals(self, scope: str, since: float) -> dict[str, Counter[str]]:
        """Exits by reason since `since` (fine tier), by series name."""
        if not self.available:
            return {}
        return await self._run(lambda conn: _exit_totals(conn, scope, since))

    async def row_count(self) -> int:
        """Rows held in both tables (retention keeps this bounded)."""

        def count(conn: sqlite3.Connection) -> int:
            points = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            exits = conn.execute("SELECT COUNT(*) FROM exits").fetchone()[0]
            return int(points) + int(exits)

        return await self._run(count)


def _write(conn: sqlite3.Connection, now: float, points: Iterable[HistoryPoint]) -> None:
    conn.execute("BEGIN")
    try:
        for tier, keep in _TIERS:
            bucket = int(now // tier * tier)
            for p in points:
                conn.execute(
                    "INSERT INTO points VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (tier, scope, name, bucket) DO UPDATE SET "
                    "samples = samples + 1, idle = idle + excluded.idle, "
                    "running = running + excluded.running, held = held + excluded.held, "
                    "black_hole = black_hole + excluded.black_hole, "
                    "demand = demand + excluded.demand, "
                    "requested = requested + excluded.requested, "
                    "submitted = submitted + excluded.submitted, "
                    "last_ts = MAX(last_ts, excluded.last_ts)",
                    (
                        tier,
                        p.scope,
                        p.name,
                        bucket,
                        p.idle,
                        p.running,
                        p.held,
                        p.black_hole,
                        p.demand,
                        p.requested,
                        p.submitted,
                        now,
                    ),
                )
                for reason, count in p.exits.items():
                    if count:
                        conn.execute(
                            "INSERT INTO exits VALUES (?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT (tier, scope, name, bucket, reason) "
                            "DO UPDATE SET count = count + excluded.count",
                            (tier, p.scope, p.name, bucket, reason, count),
                        )
            oldest = int((now - keep) // tier * tier)
            conn.execute("DELETE FROM points WHERE tier = ? AND bucket < ?", (tier, oldest))
            conn.execute("DELETE FROM exits WHERE tier = ? AND bucket < ?", (tier, oldest))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _series(
    conn: sqlite3.Connection, scope: str, name: str, span: HistoryRange, now: float
) -> list[HistorySample]:
    tier = span.resolution
    since = int((now - span.seconds) // tier * tier)
    exits: dict[int, dict[str, int]] = {}
    for bucket, reason, count in conn.execute(
        "SELECT bucket, reason, count FROM exits "
        "WHERE tier = ? AND scope = ? AND name = ? AND bucket >= ?",
        (tier, scope, name, since),
    ):
        exits.setdefault(int(bucket), {})[str(reason)] = int(count)
    samples = []
    for row in conn.execute(
        "SELECT bucket, samples, idle, running, held, black_hole, demand, requested, submitted "
        "FROM points WHERE tier = ? AND scope = ? AND name = ? AND bucket >= ? ORDER BY bucket",
        (tier, scope, name, since),
    ):
        bucket, n = int(row[0]), max(1, int(row[1]))
        idle, running, held, black_hole, demand, requested = (float(v) / n for v in row[2:8])
        samples.append(
            HistorySample(
                ts=bucket,
                idle=idle,
                running=running,
                held=held,
                black_hole=black_hole,
                demand=demand,
                requested=requested,
                submitted=int(row[8]),
                exits=exits.get(bucket, {}),
            )
        )
    return samples


def _exit_totals(conn: sqlite3.Connection, scope: str, since: float) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for name, reason, count in conn.execute(
        "SELECT name, reason, SUM(count) FROM exits "
        "WHERE tier = ? AND scope = ? AND bucket >= ? GROUP BY name, reason",
        (FINE, scope, int(since // FINE * FINE)),
    ):
        out.setdefault(str(name), Counter())[str(reason)] = int(count)
    return out
