"""The log store contract: what the log service needs from any backend.

The embedded default is `aglidein.store.sqlite.SqliteLogStore`; another backend
(PostgreSQL) implements the same `LogStore` Protocol and the service does not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from aglidein.core.records import LineError, ParsedBatch
from aglidein.store.userjobs import JobRef, JobRun, UserJob

__all__ = [
    "MAX_CURSOR_BATCH",
    "MAX_CURSOR_LINE",
    "Cursor",
    "GlideinDetail",
    "GlideinPage",
    "GlideinSummary",
    "GlideinUsage",
    "IngestResult",
    "LogPage",
    "LogQuery",
    "LogStore",
    "StoreStats",
]


# A cursor's batch and line must fit the full-text rowid (batch << 20 | line) in a
# SQLite INTEGER; the line may be one past the last (the end cursor uses 2**31).
MAX_CURSOR_BATCH = (1 << 43) - 1
MAX_CURSOR_LINE = 1 << 31


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A position in the store: records come in arrival order (batch, line)."""

    batch: int
    line: int

    def encode(self) -> str:
        """The opaque text form used by the API."""
        return f"{self.batch}.{self.line}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse `encode()`'s form; ValueError on anything else."""
        batch, sep, line = text.partition(".")
        if not (sep and text.isascii() and batch.isdigit() and line.isdigit()) or len(text) > 40:
            raise ValueError(f"bad cursor {text[:60]!r}: use a next_cursor or end_cursor")
        position = cls(int(batch), int(line))
        if position.batch > MAX_CURSOR_BATCH or position.line > MAX_CURSOR_LINE:
            raise ValueError(f"bad cursor {text!r}: out of range")
        return position


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did: newly stored and already stored records."""

    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class GlideinUsage:
    """What newly stored records said about a glidein's time (per-group accounting).

    `job_seconds` sums the user jobs that ended (job.end); a glidein.end adds the
    glidein's wall time, the part of it some user job was running (`busy_seconds`,
    overlapping jobs counted once) and whether it ended failing validation."""

    glidein: str
    entry: str
    job_seconds: float = 0.0
    glidein_seconds: float = 0.0
    busy_seconds: float = 0.0
    ended: bool = False
    validation_failed: bool = False


@dataclass(frozen=True)
class LogQuery:
    """Search filters (DESIGN §8). `levels` is a set of level names; `q` full text;
    `job` the glideins that ran a user job (`Cluster[.Proc][@schedd]`)."""

    glidein: str | None = None
    job: JobRef | None = None
    entry: str | None = None
    levels: frozenset[str] = frozenset()
    event: str | None = None
    q: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    cursor: Cursor | None = None
    descending: bool = False


@dataclass(frozen=True)
class LogPage:
    """One page of records; `next_cursor` is None at the end."""

    records: list[dict[str, Any]]
    cursors: list[Cursor]
    next_cursor: Cursor | None
    end_cursor: Cursor
    index_lag_s: float


@dataclass(frozen=True, slots=True)
class GlideinSummary:
    """One glidein as the store knows it."""

    glidein: str
    entry: str
    state: str
    first_ts: float | None
    last_ts: float | None
    record_count: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class GlideinDetail:
    """A glidein's summary and the last record the store received from it."""

    summary: GlideinSummary
    last_record: dict[str, Any] | None


@dataclass(frozen=True)
class GlideinPage:
    """A page of glideins, ordered by first arrival."""

    glideins: list[GlideinSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class StoreStats:
    """Figures for metrics and readiness."""

    size_bytes: int
    index_lag_s: float
    writable: bool
    last_error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


class LogStore(Protocol):
    """A durable, deduplicating store of glidein log records."""

    async def ingest(self, glidein: str, entry: str, batch: ParsedBatch) -> IngestResult:
        """Store the records of `batch` not stored before; return once they are durable.

        Raises StoreFull when out of space and StoreError when storage fails.
        """
        ...

    async def ingest_lines(
        self, glidein: str, entry: str, body: bytes, *, max_fields: int, max_bytes: int
    ) -> tuple[IngestResult, list[LineError]]:
        """`ingest` of the valid records of an NDJSON body (`records.parse_batch`); the
        refused lines besides. Raises as `ingest` does."""
        ...

    async def search(self, query: LogQuery) -> LogPage:
        """Records matching `query`, in arrival order (or reversed)."""
        ...

    async def glideins(
        self, *, entry: str | None = None, limit: int = 1000, cursor: str | None = None
    ) -> GlideinPage:
        """Glideins that have posted records."""
        ...

    async def glidein_details(self, names: list[str]) -> dict[str, GlideinDetail]:
        """Summary and last record of each of these glideins that posted (others absent)."""
        ...

    async def job_runs(self, ref: JobRef) -> list[JobRun]:
        """Which glideins ran the user jobs matching `ref`."""
        ...

    async def user_jobs(self, glidein: str) -> list[UserJob] | None:
        """The user jobs a glidein's records name; None when it never posted."""
        ...

    def stats(self) -> StoreStats:
        """Size, index lag and health, without blocking."""
        ...

    def posted_glideins(self) -> set[str]:
        """Ids of every glidein that has posted records, without blocking."""
        ...

    def ended_glideins(self, names: list[str]) -> set[str]:
        """Which of these glideins posted their end, without blocking."""
        ...

    def changes(self) -> anyio.Event:
        """An event set once records committed after this call can be read (live tails
        take it before searching, then wait on it)."""
        ...
