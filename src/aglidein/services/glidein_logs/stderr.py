"""Glidein output files: the stderr of glideins that never posted, and their retention.

Each glidein's grid job writes `state_dir/glideins/<entry>/<id>.out` and `<id>.err`
(DESIGN §6). Once a cycle, before anything is submitted, the files are looked at:

- a glidein that has an `.err` file, is no longer on the factory schedd (it ended, or was
  removed) and never posted a log record gets the last 64 KiB of its stderr stored as
  its records (`core.stderr`); storing them makes it "posted", so it is done once. Only
  files younger than a day (and than half the log retention) are judged, so a glidein
  whose records retention already deleted is not brought back;
- `.out` and `.err` files older than `logs.retention` are deleted, like the records (the
  user logs beside them are `services.exits`'s to delete: it knows which are read).

File ages are wall-clock ages (file times), even on a simulated pool's faster clock.

Looking before the submissions of the cycle matters: every glidein with files then was
submitted before the census was taken, so "not in the census" means "gone".
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import structlog

from aglidein.config import LogsConfig
from aglidein.core.model import GlideinCensus
from aglidein.core.records import ParsedBatch
from aglidein.core.stderr import STDERR_TAIL_BYTES, stderr_batch
from aglidein.errors import AglideinError

__all__ = ["IngestRecords", "OutputFiles", "StderrTail"]

log = structlog.get_logger()
IngestRecords = Callable[[str, str, ParsedBatch], Awaitable[object]]
_SUFFIXES = (".out", ".err")
_JUDGE_WITHIN = 86400.0


@dataclass(frozen=True, slots=True)
class StderrTail:
    """The end of one silent glidein's stderr file."""

    glidein: str
    entry: str
    tail: bytes
    truncated: bool
    mtime: float


class OutputFiles:
    """Stores the stderr of glideins that ended silently; deletes expired output files."""

    def __init__(
        self,
        glideins_dir: Path,
        ingest: IngestRecords,
        reported: Callable[[], Awaitable[set[str]]],
        settings: Callable[[], LogsConfig],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._root = glideins_dir
        self._ingest = ingest
        self._reported = reported
        self._settings = settings
        self._wall = wall

    async def collect(self, census: GlideinCensus) -> int:
        """Store the stderr of glideins gone from `census` without a record; how many."""
        if not census.factory_ok:
            return 0
        settings = self._settings()
        live = {g.glidein_id for g in census.glideins}
        reported = await self._reported()
        now = self._wall()
        judge_after = now - min(_JUDGE_WITHIN, settings.retention / 2)
        expire_before = now - settings.retention
        silent = await anyio.to_thread.run_sync(
            self._scan, live | reported, judge_after, expire_before
        )
        stored = 0
        for found in silent:
            batch = stderr_batch(
                found.tail,
                ts=found.mtime,
                truncated=found.truncated,
                max_fields=settings.record_max_fields,
                max_bytes=settings.record_max_bytes,
            )
            try:
                await self._ingest(found.glidein, found.entry, batch)
            except AglideinError as exc:  # the store is failing or full: next cycle
                log.warning("glidein.stderr_failed", glidein=found.glidein, error=str(exc))
                continue
            stored += 1
            log.info(
                "glidein.stderr_stored",
                glidein=found.glidein,
                entry=found.entry,
                records=len(batch),
            )
        return stored

    def _scan(
        self, known: Collection[str], judge_after: float, expire_before: float
    ) -> list[StderrTail]:
        """Delete expired files; the stderr tails of glideins to store (in a thread)."""
        silent: list[StderrTail] = []
        deleted = 0
        try:
            entries = [e for e in os.scandir(self._root) if e.is_dir(follow_symlinks=False)]
        except OSError:  # no glidein ever submitted (or an unreadable state_dir)
            return silent
        for entry in entries:
            try:
                files = [f for f in os.scandir(entry.path) if f.name.endswith(_SUFFIXES)]
            except OSError:
                continue
            for item in files:
                try:
                    mtime = item.stat(follow_symlinks=False).st_mtime
                    if mtime < expire_before:
                        os.unlink(item.path)
                        deleted += 1
                        continue
                except OSError:  # gone meanwhile, or not ours to delete
                    continue
                glidein = item.name[: -len(".err")]
                if not item.name.endswith(".err") or not glidein or glidein in known:
                    continue
                if mtime >= judge_after:
                    found = _tail(Path(item.path), glidein, entry.name, mtime)
                    if found is not None:
                        silent.append(found)
        if deleted:
            log.info("glidein.outputs_expired", files=deleted)
        return silent


def _tail(path: Path, glidein: str, entry: str, mtime: float) -> StderrTail | None:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - STDERR_TAIL_BYTES)
            handle.seek(start)
            tail = handle.read(STDERR_TAIL_BYTES)
    except OSError as exc:
        log.warning("glidein.stderr_unreadable", path=str(path), error=str(exc))
        return None
    return StderrTail(glidein, entry, tail, start > 0, mtime)
