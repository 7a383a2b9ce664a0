"""What each cycle adds to the history (`aglidein.store.history`): one point per entry, per
group and for the factory, built from the cycle's census, plan and outcomes.

`cycle_points` is a pure function; `HistoryRecorder` keeps the last cycle's points for the
entries page and learns each exit's group from the glidein roster as the user log is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aglidein.condor.userlog import JobEnd
from aglidein.config import Config
from aglidein.core.lifecycle import exit_reason
from aglidein.core.model import (
    DemandSnapshot,
    GlideinCensus,
    GlideinState,
    Plan,
    SlotActivity,
)
from aglidein.services.provisioner import EntryOutcome
from aglidein.services.roster import GlideinRoster
from aglidein.store.history import HistoryPoint, HistoryStore

__all__ = ["CycleFacts", "HistoryRecorder", "cycle_points"]

FACTORY = ""  # the factory series' name


@dataclass(frozen=True)
class CycleFacts:
    """What one cycle saw and did, as the history needs it."""

    demand: DemandSnapshot
    census: GlideinCensus
    plan: Plan
    outcomes: Mapping[str, EntryOutcome]
    entry_exits: Mapping[str, Counter[str]] = field(default_factory=dict)
    group_exits: Mapping[str, Counter[str]] = field(default_factory=dict)


@dataclass
class _Tally:
    idle: int = 0
    running: int = 0
    held: int = 0
    black_hole: int = 0
    demand: int = 0
    requested: int = 0
    submitted: int = 0
    exits: Counter[str] = field(default_factory=Counter)

    def point(self, scope: str, name: str) -> HistoryPoint:
        return HistoryPoint(
            scope=scope,
            name=name,
            idle=self.idle,
            running=self.running,
            held=self.held,
            black_hole=self.black_hole,
            demand=self.demand,
            requested=self.requested,
            submitted=self.submitted,
            exits=dict(self.exits),
        )


def cycle_points(config: Config, facts: CycleFacts) -> list[HistoryPoint]:
    """One point per configured entry and group, and one for the factory.

    An entry's demand is the idle jobs matching it (summed over groups, as `status`
    shows it); a group's and the factory's are their idle jobs, each counted once.
    Glidein counts are left out (kept at 0) when the factory schedd did not answer."""
    entries = {e.name: _Tally() for e in config.entries}
    groups = {g.name: _Tally() for g in config.groups}
    factory = _Tally()
    census = facts.census
    if census.factory_ok:
        for glidein in census.glideins:
            state = _STATE_FIELD.get(glidein.state)
            if state is None:
                continue
            for tally in _tallies(entries, groups, glidein.entry, glidein.group):
                setattr(tally, state, getattr(tally, state) + 1)
            setattr(factory, state, getattr(factory, state) + 1)
        for slot in census.slots:
            if slot.activity is SlotActivity.BLACK_HOLE:
                for tally in (*_tallies(entries, groups, slot.entry, slot.group), factory):
                    tally.black_hole += 1
    for schedd in facts.demand.schedds:
        idle = sum(shape.idle for shape in schedd.shapes)
        if schedd.group in groups:
            groups[schedd.group].demand += idle
        factory.demand += idle
    for decision in facts.plan.decisions:
        for tally in _tallies(entries, groups, decision.entry, decision.group):
            tally.requested += decision.requested_idle
        factory.requested += decision.requested_idle
        if decision.entry in entries:
            entries[decision.entry].demand += decision.matching_jobs
    _count_submitted(facts, entries, groups, factory)
    for name, reasons in facts.entry_exits.items():
        if name in entries:
            entries[name].exits.update(reasons)
        factory.exits.update(reasons)
    for name, reasons in facts.group_exits.items():
        if name in groups:
            groups[name].exits.update(reasons)
    return [
        *(t.point("entry", n) for n, t in entries.items()),
        *(t.point("group", n) for n, t in groups.items()),
        factory.point("factory", FACTORY),
    ]


_STATE_FIELD = {
    GlideinState.IDLE: "idle",
    GlideinState.RUNNING: "running",
    GlideinState.HELD: "held",
}


def _tallies(
    entries: Mapping[str, _Tally], groups: Mapping[str, _Tally], entry: str, group: str
) -> list[_Tally]:
    return [t for t in (entries.get(entry), groups.get(group)) if t is not None]


def _count_submitted(
    facts: CycleFacts, entries: dict[str, _Tally], groups: dict[str, _Tally], factory: _Tally
) -> None:
    """Glideins submitted: the entry's outcome, shared out over its groups' requests in
    plan order (a cut-short submission fills the first requests first)."""
    left = {name: outcome.submitted for name, outcome in facts.outcomes.items()}
    for request in facts.plan.submits:
        sent = min(request.count, left.get(request.entry, 0))
        if sent <= 0:
            continue
        left[request.entry] -= sent
        if request.group in groups:
            groups[request.group].submitted += sent
    for name, outcome in facts.outcomes.items():
        if name in entries:
            entries[name].submitted += outcome.submitted
        factory.submitted += outcome.submitted


class HistoryRecorder:
    """Records each cycle's points and keeps the latest for the pages."""

    def __init__(self, store: HistoryStore, roster: GlideinRoster) -> None:
        self.store = store
        self._roster = roster
        self._group_exits: dict[str, Counter[str]] = {}
        self.latest: dict[tuple[str, str], HistoryPoint] = {}
        self.latest_at: float | None = None

    def note_ends(self, ends: Iterable[JobEnd]) -> None:
        """Count ends by the group of their glidein (told by the exit scan)."""
        for end in ends:
            known = self._roster.of_job(end)
            if known is None:
                continue  # ended before this daemon saw it: its group is not known
            reason = exit_reason(end.exit_code, end.signal, removed=end.removed)
            self._group_exits.setdefault(known.group, Counter())[reason] += 1

    async def record(self, config: Config, facts: CycleFacts, now: float) -> Sequence[HistoryPoint]:
        """Add this cycle's points to the history; the points."""
        group_exits, self._group_exits = self._group_exits, {}
        if not facts.group_exits:
            facts = CycleFacts(
                facts.demand,
                facts.census,
                facts.plan,
                facts.outcomes,
                facts.entry_exits,
                group_exits,
            )
        points = cycle_points(config, facts)
        self.latest = {(p.scope, p.name): p for p in points}
        self.latest_at = now
        await self.store.record(now, points)
        return points
