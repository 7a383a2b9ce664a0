"""Glidein exits, counted from the clusters' HTCondor user logs (DESIGN §6); their retention.

Completed grid jobs leave the factory schedd's queue, so their exit codes are read from
the `log =` files of an entry (`state_dir/glideins/<entry>/`, named by
`core.submit.userlog_name`: one per factory schedd and UTC day of submission, e.g.
`glideins-20261207.log` for the first schedd, `glideins@SCHEDD-20261207.log` for the
others, plus the undated `glideins.log` / `glideins@SCHEDD.log` of earlier versions).
Every such file is read from where the last scan stopped; offsets are kept in the state
DB (per file) so a restart does not count an exit twice. Each end carries the schedd of
its file (`JobEnd.schedd`): cluster.proc is only unique on one schedd. Each end
(terminated, or aborted: reason `removed`) becomes
`aglidein_glidein_exits_total{group,entry,reason}`; the group is the glidein's
`AglideinGroup` as the roster knew it (`unknown` for a glidein this daemon never saw on
the queue, e.g. one that ended while it was down).

A user log read to its end and not written for longer than `logs.retention` (its file
time, on the wall clock) is deleted and its offset forgotten: a glidein writes only to
the file of its submission day, so an old file no longer written is finished with.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
import structlog

from aglidein.condor.userlog import JobEnd, read_new_job_ends
from aglidein.core.lifecycle import exit_reason
from aglidein.core.submit import USERLOG_NAME, userlog_schedd
from aglidein.services.metrics import UNKNOWN_GROUP, Metrics
from aglidein.state import StateDB

__all__ = ["USERLOG_NAME", "ExitWatcher"]

log = structlog.get_logger()
_OFFSETS_KEY = "userlog_offsets"


@dataclass
class _Scanned:
    """What one pass over the entries' user logs found (in a thread)."""

    ends: dict[str, list[JobEnd]] = field(default_factory=dict)
    expired: int = 0


class ExitWatcher:
    """Reads new termination events and counts them by entry and reason; deletes the
    user logs it has read to their end once they are older than the log retention."""

    def __init__(
        self,
        glideins_dir: Path,
        state: StateDB,
        metrics: Metrics,
        on_ends: Callable[[list[JobEnd]], None] | None = None,
        group_of: Callable[[JobEnd], str | None] | None = None,
        *,
        retention: Callable[[], float] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._root = glideins_dir
        self._group_of = group_of  # the group a glidein served (the roster)
        self._on_ends = on_ends  # told every end read (the glidein roster)
        self._state = state
        self._metrics = metrics
        self._retention = retention  # logs.retention (None: user logs are kept)
        self._wall = wall
        self._offsets: dict[str, int] | None = None

    async def scan(
        self, entries: Iterable[str], schedds: Sequence[str] = ("",)
    ) -> dict[str, Counter[str]]:
        """Count exits logged since the last scan (every user log of every entry: each
        factory schedd, each day, the undated ones); reasons by entry. Then delete the
        logs read to their end and not written for longer than the log retention."""
        if self._offsets is None:
            stored = await self._state.get_json(_OFFSETS_KEY)
            self._offsets = {str(k): int(v) for k, v in (stored or {}).items()}
        offsets = dict(self._offsets)
        names = sorted(entries)
        expire_before = None if self._retention is None else self._wall() - self._retention()
        found = await anyio.to_thread.run_sync(
            self._read, names, tuple(schedds), offsets, expire_before
        )
        out: dict[str, Counter[str]] = {}
        for entry, ends in found.ends.items():
            if self._on_ends is not None:
                self._on_ends(ends)
            reasons = Counter(exit_reason(e.exit_code, e.signal, removed=e.removed) for e in ends)
            by_group = Counter(
                (self._group(e), exit_reason(e.exit_code, e.signal, removed=e.removed))
                for e in ends
            )
            for (group, reason), count in by_group.items():
                self._metrics.glidein_exits.labels(group=group, entry=entry, reason=reason).inc(
                    count
                )
            if reasons:
                out[entry] = reasons
                log.info("glidein.exits", entry=entry, **dict(reasons))
        if offsets != self._offsets:
            # saved before a deleted file's offset could matter: the ends read from it
            # were counted above, and a file gone from disk is never read again
            self._offsets = offsets
            await self._state.put_json(_OFFSETS_KEY, offsets)
        if found.expired:
            log.info("glidein.userlogs_expired", files=found.expired)
        return out

    def _group(self, end: JobEnd) -> str:
        group = self._group_of(end) if self._group_of is not None else None
        return group or UNKNOWN_GROUP

    def _read(
        self,
        entries: list[str],
        schedds: Sequence[str],
        offsets: dict[str, int],
        expire_before: float | None,
    ) -> _Scanned:
        scanned = _Scanned()
        known: dict[str, dict[str, str]] = {}  # entry -> file name -> its offset's key
        for key in offsets:
            entry, _, name = key.partition("/")  # entry names have no "/"
            known.setdefault(entry, {})[name or USERLOG_NAME] = key
        for entry in entries:
            try:
                logs = {
                    f.name: f
                    for f in os.scandir(self._root / entry)
                    if userlog_schedd(f.name, schedds) is not None
                }
            except FileNotFoundError:  # no glidein submitted there yet, or the dir removed
                logs = {}
            except OSError as exc:
                log.warning("glidein.userlogs_unreadable", entry=entry, error=str(exc))
                continue
            for name, key in known.get(entry, {}).items():
                if name not in logs:  # deleted by hand: a new file of that name is new
                    del offsets[key]
            for name in sorted(logs):
                key = _offset_key(entry, name)
                try:
                    stat = logs[name].stat(follow_symlinks=False)
                except OSError:  # gone meanwhile
                    continue
                offset = offsets.get(key, 0)
                if stat.st_size != offset:
                    ends, offset = read_new_job_ends(Path(logs[name].path), offset)
                    offsets[key] = offset
                    schedd = userlog_schedd(name, schedds) or ""
                    if ends:
                        scanned.ends.setdefault(entry, []).extend(
                            dataclasses.replace(e, schedd=schedd) for e in ends
                        )
                if (
                    expire_before is not None
                    and stat.st_mtime < expire_before
                    and _delete_if_done(Path(logs[name].path), offset, expire_before)
                ):
                    offsets.pop(key, None)
                    scanned.expired += 1
        return scanned


def _offset_key(entry: str, name: str) -> str:
    """The state DB key of a user log's offset (the legacy first schedd's is the entry's
    name alone, as versions before several schedds kept it)."""
    return entry if name == USERLOG_NAME else f"{entry}/{name}"


def _delete_if_done(path: Path, offset: int, expire_before: float) -> bool:
    """Delete `path` if everything in it has been read and it was last written before
    `expire_before` (looked at again: it may have been written while it was read)."""
    try:
        stat = os.stat(path, follow_symlinks=False)
        if stat.st_size != offset or stat.st_mtime >= expire_before:
            return False  # bytes left to read (a half-written event), or written since
        os.unlink(path)
    except OSError as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("glidein.userlog_delete_failed", path=str(path), error=str(exc))
        return False
    return True
