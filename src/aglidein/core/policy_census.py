"""The glidein census summed the ways the policy needs it: per (group, entry), per group,
per entry and for the whole factory."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from aglidein.core.model import Glidein, GlideinCensus, GlideinState, SlotActivity

__all__ = ["CensusCounts", "GlideinTotals"]

Pair = tuple[str, str]


@dataclass(slots=True)
class GlideinTotals:
    """Glidein jobs by state (transferring and suspended count as running)."""

    idle: int = 0
    running: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        """Every glidein on the queue (idle, running and held): max_glideins counts these."""
        return self.idle + self.running + self.held

    @property
    def active(self) -> int:
        """Idle and running: a group's max_running counts these."""
        return self.idle + self.running

    def add(self, state: GlideinState) -> None:
        """Count one glidein."""
        if state is GlideinState.IDLE:
            self.idle += 1
        elif state is GlideinState.HELD:
            self.held += 1
        elif state in (GlideinState.RUNNING, GlideinState.TRANSFERRING, GlideinState.SUSPENDED):
            self.running += 1


@dataclass
class CensusCounts:
    """Sums of one census."""

    pairs: dict[Pair, GlideinTotals] = field(default_factory=lambda: defaultdict(GlideinTotals))
    groups: dict[str, GlideinTotals] = field(default_factory=lambda: defaultdict(GlideinTotals))
    entries: dict[str, GlideinTotals] = field(default_factory=lambda: defaultdict(GlideinTotals))
    factory: GlideinTotals = field(default_factory=GlideinTotals)
    slots: dict[Pair, Counter[SlotActivity]] = field(default_factory=lambda: defaultdict(Counter))
    idle_glideins: dict[Pair, list[Glidein]] = field(default_factory=lambda: defaultdict(list))
    unused_glideins: dict[Pair, list[Glidein]] = field(default_factory=lambda: defaultdict(list))
    old: dict[str, int] = field(default_factory=dict)  # entry -> the old factory's glideins

    @classmethod
    def of(cls, census: GlideinCensus) -> CensusCounts:
        """Sum a census. Glideins of a factory schedd that did not answer (last known)
        are counted but never offered for removal."""
        out = cls(old=dict(census.old_glideins))
        stale = census.stale_schedds
        for glidein in census.glideins:
            pair = (glidein.group, glidein.entry)
            for totals in (
                out.pairs[pair],
                out.groups[glidein.group],
                out.entries[glidein.entry],
                out.factory,
            ):
                totals.add(glidein.state)
            if glidein.state is GlideinState.IDLE and glidein.schedd not in stale:
                out.idle_glideins[pair].append(glidein)
        activity_by_glidein: dict[str, set[SlotActivity]] = defaultdict(set)
        for slot in census.slots:
            out.slots[(slot.group, slot.entry)][slot.activity] += 1
            activity_by_glidein[slot.glidein_id].add(slot.activity)
        for glidein in census.glideins:
            if glidein.schedd in stale:
                continue
            if glidein.state is GlideinState.RUNNING and activity_by_glidein.get(
                glidein.glidein_id
            ) == {SlotActivity.IDLE}:
                out.unused_glideins[(glidein.group, glidein.entry)].append(glidein)
        return out

    def pair(self, group: str, entry: str) -> GlideinTotals:
        """Totals of one (group, entry) (zeros when none)."""
        return self.pairs.get((group, entry)) or GlideinTotals()

    def slot_count(self, group: str, entry: str, activity: SlotActivity) -> int:
        """Slots of one (group, entry) doing `activity`."""
        counter = self.slots.get((group, entry))
        return counter[activity] if counter else 0

    def newest_idle(self, group: str, entry: str, count: int) -> tuple[str, ...]:
        """Keys (`Glidein.key`) of the `count` most recently queued idle glideins."""
        glideins = sorted(
            self.idle_glideins.get((group, entry), ()), key=lambda g: (g.queued, g.cluster, g.proc)
        )
        # a count above what is on offer (pair.idle also counts a stale schedd's) is all
        return (
            tuple(g.key for g in reversed(glideins[max(0, len(glideins) - count) :]))
            if count
            else ()
        )

    def newest_unused(self, group: str, entry: str, count: int) -> tuple[str, ...]:
        """Keys of running glideins whose every slot is idle, newest first."""
        glideins = sorted(
            self.unused_glideins.get((group, entry), ()),
            key=lambda g: (g.queued, g.cluster, g.proc),
            reverse=True,
        )
        return tuple(g.key for g in glideins[:count])
