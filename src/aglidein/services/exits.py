"""Glidein exits, counted from the clusters' HTCondor user logs (DESIGN §6).

Completed grid jobs leave the factory schedd's queue, so their exit codes are read from
the `log =` file of each (entry, factory schedd) (`state_dir/glideins/<entry>/` +
`core.submit.userlog_name`: `glideins.log` for the first schedd), from where the last
scan stopped; offsets are kept in the state DB so a restart does not count an exit
twice. Each end carries the schedd of its file (`JobEnd.schedd`): cluster.proc is only
unique on one schedd. Each end (terminated, or aborted: reason `removed`) becomes
`aglidein_glidein_exits_total{group,entry,reason}`; the group is the glidein's
`AglideinGroup` as the roster knew it (`unknown` for a glidein this daemon never saw on
the queue, e.g. one that ended while it was down).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import anyio.to_thread
import structlog

from aglidein.condor.userlog import JobEnd, read_new_job_ends
from aglidein.core.lifecycle import exit_reason
from aglidein.core.submit import USERLOG_NAME, userlog_name
from aglidein.services.metrics import UNKNOWN_GROUP, Metrics
from aglidein.state import StateDB

__all__ = ["USERLOG_NAME", "ExitWatcher"]

log = structlog.get_logger()
_OFFSETS_KEY = "userlog_offsets"


class ExitWatcher:
    """Reads new termination events and counts them by entry and reason."""

    def __init__(
        self,
        glideins_dir: Path,
        state: StateDB,
        metrics: Metrics,
        on_ends: Callable[[list[JobEnd]], None] | None = None,
        group_of: Callable[[JobEnd], str | None] | None = None,
    ) -> None:
        self._root = glideins_dir
        self._group_of = group_of  # the group a glidein served (the roster)
        self._on_ends = on_ends  # told every end read (the glidein roster)
        self._state = state
        self._metrics = metrics
        self._offsets: dict[str, int] | None = None

    async def scan(
        self, entries: Iterable[str], schedds: Sequence[str] = ("",)
    ) -> dict[str, Counter[str]]:
        """Count exits logged since the last scan (every entry's log of every factory
        schedd); reasons by entry."""
        if self._offsets is None:
            stored = await self._state.get_json(_OFFSETS_KEY)
            self._offsets = {str(k): int(v) for k, v in (stored or {}).items()}
        offsets = dict(self._offsets)
        names = sorted(entries)
        found = await anyio.to_thread.run_sync(self._read, names, tuple(schedds), offsets)
        out: dict[str, Counter[str]] = {}
        for entry, ends in found.items():
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
            self._offsets = offsets
            await self._state.put_json(_OFFSETS_KEY, offsets)
        return out

    def _group(self, end: JobEnd) -> str:
        group = self._group_of(end) if self._group_of is not None else None
        return group or UNKNOWN_GROUP

    def _read(
        self, entries: list[str], schedds: Sequence[str], offsets: dict[str, int]
    ) -> dict[str, list[JobEnd]]:
        found: dict[str, list[JobEnd]] = {}
        for entry in entries:
            for schedd in schedds or ("",):
                name = userlog_name(schedd, schedds)
                key = entry if name == USERLOG_NAME else f"{entry}/{name}"  # old keys stay
                ends, offsets[key] = read_new_job_ends(
                    self._root / entry / name, offsets.get(key, 0)
                )
                if ends:
                    found.setdefault(entry, []).extend(
                        dataclasses.replace(e, schedd=schedd) for e in ends
                    )
        return found
