"""The glidein roster: every glidein on the factory schedd's queue, and those that left it
recently, with what the census, the collector and the user log said about them.

The cycle feeds it (`observe` each census, `record_ends` from the user-log scan); the
glidein list (`GET /api/v1/glideins`, `aglidein glideins`) reads it. Ended glideins are
kept for `ENDED_KEEP_S` and at most `ENDED_KEEP_MAX` of them, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aglidein.condor.userlog import JobEnd
from aglidein.core.lifecycle import exit_reason
from aglidein.core.model import GlideinCensus, GlideinState

__all__ = [
    "ENDED",
    "ENDED_KEEP_MAX",
    "ENDED_KEEP_S",
    "JOB_STATES",
    "LOG_STATES",
    "STATES",
    "GlideinRoster",
    "RosterGlidein",
]

ENDED_KEEP_S = 24 * 3600.0
ENDED_KEEP_MAX = 10_000
ENDED = "ended"  # job_state of a glidein no longer on the queue
LOG_STATES = ("active", "silent", "ended")  # what the logs say (the list's `state`)
JOB_STATES = (*(s.value for s in GlideinState), ENDED)  # the queue (`job_state`)
STATES = tuple(dict.fromkeys((*JOB_STATES, *LOG_STATES)))  # what `state=` filters on


@dataclass(slots=True)
class RosterGlidein:
    """One glidein as the factory last knew it."""

    glidein: str
    entry: str
    group: str
    cluster: int
    proc: int
    job_state: str  # idle, running, held, ... (JobStatus) or `ended`
    queued: float
    started: float | None = None
    grid_job_id: str | None = None
    worker: str | None = None
    hold_reason: str | None = None
    ended: float | None = None  # when it left the queue (or its end was logged)
    exit_reason: str | None = None
    exit_code: int | None = None
    schedd: str = ""  # the factory schedd that holds (held) it

    @property
    def job_id(self) -> str:
        """`ClusterId.ProcId` on its factory schedd."""
        return f"{self.cluster}.{self.proc}"

    @property
    def order(self) -> tuple[str, int, int]:
        """Where it sorts in the list: by factory schedd, then job id."""
        return (self.schedd, self.cluster, self.proc)


class GlideinRoster:
    """Glideins on the queue and recently ended (bounded), by glidein id; also by
    (factory schedd, cluster, proc), as job ids repeat across factory schedds."""

    def __init__(self, keep_s: float = ENDED_KEEP_S, keep_max: int = ENDED_KEEP_MAX) -> None:
        self._glideins: dict[str, RosterGlidein] = {}
        self._by_job: dict[tuple[str, int, int], str] = {}
        self._keep_s = keep_s
        self._keep_max = keep_max

    def __len__(self) -> int:
        return len(self._glideins)

    def get(self, glidein: str) -> RosterGlidein | None:
        """One glidein, or None when the roster does not know it."""
        return self._glideins.get(glidein)

    def by_job(self, cluster: int, proc: int, schedd: str = "") -> RosterGlidein | None:
        """The glidein that is (or was) job `cluster.proc` of factory schedd `schedd`."""
        name = self._by_job.get((schedd, cluster, proc))
        return self._glideins.get(name) if name is not None else None

    def of_job(self, end: JobEnd) -> RosterGlidein | None:
        """The glidein that is job `end.cluster.end.proc` of `end.schedd`, when known."""
        return self.by_job(end.cluster, end.proc, end.schedd)

    def group_of_job(self, end: JobEnd) -> str | None:
        """The group of the glidein that is factory job `end.cluster.end.proc`."""
        known = self.of_job(end)
        return known.group if known is not None else None

    def group_of(self, glidein: str) -> str | None:
        """The group a glidein served, when the roster knows it."""
        known = self._glideins.get(glidein)
        return known.group if known is not None else None

    def glideins(self) -> list[RosterGlidein]:
        """Every glidein known, by factory schedd and job id."""
        return sorted(self._glideins.values(), key=lambda g: g.order)

    def observe(self, census: GlideinCensus, now: float) -> None:
        """Take in one census; glideins gone from a good census have ended."""
        if not census.factory_ok:
            return  # an unanswered poll says nothing about who left
        machines = {s.glidein_id: s.machine for s in census.slots if s.machine}
        seen: set[str] = set()
        for g in census.glideins:
            seen.add(g.glidein_id)
            known = self._glideins.get(g.glidein_id)
            if known is None:
                known = RosterGlidein(
                    glidein=g.glidein_id,
                    entry=g.entry,
                    group=g.group,
                    cluster=g.cluster,
                    proc=g.proc,
                    job_state=g.state.value,
                    queued=g.queued,
                    schedd=g.schedd,
                )
                self._glideins[g.glidein_id] = known
                self._by_job[(g.schedd, g.cluster, g.proc)] = g.glidein_id
            known.job_state = g.state.value
            known.started = g.job_start or known.started
            known.grid_job_id = g.grid_job_id or known.grid_job_id
            known.hold_reason = g.hold_reason
            known.worker = machines.get(g.glidein_id) or known.worker
            known.ended = None
        for known in self._glideins.values():
            if known.glidein not in seen and known.ended is None:
                known.ended = now
                known.job_state = ENDED
        self._prune(now)

    def record_ends(self, ends: Iterable[JobEnd], now: float) -> None:
        """Exit reasons read from an entry's user log."""
        for end in ends:
            known = self.of_job(end)
            if known is None:
                continue  # ended before this daemon saw it on the queue
            known.exit_reason = exit_reason(end.exit_code, end.signal, removed=end.removed)
            known.exit_code = end.exit_code
            if known.ended is None:
                known.ended = now

    def _prune(self, now: float) -> None:
        ended = sorted(
            (g for g in self._glideins.values() if g.job_state == ENDED and g.ended is not None),
            key=lambda g: g.ended or 0.0,
        )
        extra = max(0, len(ended) - self._keep_max)
        for index, known in enumerate(ended):
            if index < extra or now - (known.ended or now) > self._keep_s:
                del self._glideins[known.glidein]
                self._by_job.pop((known.schedd, known.cluster, known.proc), None)
