"""Idle-job counts per (group, entry) from a demand snapshot (DESIGN §5 counting rule).

A shape matching N entries counts fully for each (`matching_jobs`), 1/N to each
(`unique_share`), and to `only_here` when N is 1. Every entry except those with config
`enabled: false` takes part in matching, for the groups its `allow_groups` lets in. Stale demand is kept for `factory.stale_cycles`
cycles, then dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from aglidein.config import Config, EntryConfig, GroupConfig
from aglidein.core.demand import merge_shapes
from aglidein.core.match import EntriesKey, compiled_matcher
from aglidein.core.model import DemandSnapshot, ShapeCount

__all__ = ["EntryCount", "GroupDemand", "count_demand", "count_group", "usable_shapes"]


@dataclass(frozen=True, slots=True)
class EntryCount:
    """Idle jobs of one group that match one entry."""

    matching_jobs: int = 0
    unique_share: float = 0.0
    only_here: int = 0


@dataclass(frozen=True, slots=True)
class GroupDemand:
    """One group's counts per entry name, and what was wrong with its data."""

    group: str
    counts: dict[str, EntryCount] = field(default_factory=dict)
    stale: bool = False  # some schedd answered with old data or its demand was dropped
    shapes: int = 0
    idle_jobs: int = 0


def _entry_key(entries: Iterable[EntryConfig]) -> EntriesKey:
    out = []
    for entry in entries:
        attrs = entry.attrs
        typed = [(k, type(v).__name__, v) for k, v in attrs.items()]
        typed.sort(key=_name)  # names are unique: sorted by name as the items would be
        out.append((entry.name, tuple(typed)))
    return tuple(out)


def _name(item: tuple[str, str, object]) -> str:
    return item[0]


def count_group(
    group: GroupConfig, entries: list[EntryConfig], shapes: tuple[ShapeCount, ...], now: float
) -> dict[str, EntryCount]:
    """Counts for every entry in `entries` (those matched) from a group's merged shapes;
    `now` is HTCondor's `CurrentTime`."""
    idle_shapes = [s for s in shapes if s.idle > 0]
    if not entries or not idle_shapes:
        return {e.name: EntryCount() for e in entries}
    matcher = compiled_matcher(group.match, _entry_key(entries), now)
    ads = [dict(s.shape.attrs) for s in idle_shapes]
    # the class matrix is mostly false: sums run over its true cells only
    shape_class, rows, cols, n_shapes = matcher.match_pairs(ads)
    idle = np.bincount(shape_class, weights=[s.idle for s in idle_shapes], minlength=n_shapes)
    sizes = matcher.entry_class_size
    n_classes = len(sizes)
    matches = np.bincount(rows, weights=sizes[cols], minlength=n_shapes)
    share = np.divide(idle, matches, out=np.zeros_like(idle), where=matches > 0)
    only = np.where(matches == 1, idle, 0.0)
    per_class_match = np.bincount(cols, weights=idle[rows], minlength=n_classes)
    per_class_share = np.bincount(cols, weights=share[rows], minlength=n_classes)
    per_class_only = np.bincount(cols, weights=only[rows], minlength=n_classes)
    out: dict[str, EntryCount] = {}
    for i, entry in enumerate(entries):
        cls = matcher.entry_class[i]
        out[entry.name] = EntryCount(
            matching_jobs=round(float(per_class_match[cls])),
            unique_share=float(per_class_share[cls]),
            only_here=round(float(per_class_only[cls])),
        )
    return out


def usable_shapes(
    config: Config, demand: DemandSnapshot, group: str
) -> tuple[list[tuple[ShapeCount, ...]], bool]:
    """The shape rows of a group's schedds still fresh enough, and whether any is stale."""
    rows = []
    stale = False
    for row in demand.for_group(group):
        if not row.ok or row.stale_cycles > 0:
            stale = True
        if row.stale_cycles <= config.factory.stale_cycles:
            rows.append(row.shapes)
    return rows, stale


def count_demand(config: Config, demand: DemandSnapshot, now: float) -> dict[str, GroupDemand]:
    """Counts for every group and every entry not disabled in the config, at `now` (the
    cycle's time: HTCondor's `CurrentTime` in every ad)."""
    entries = [e for e in config.entries if e.enabled]
    out: dict[str, GroupDemand] = {}
    for group in config.groups:
        rows, stale = usable_shapes(config, demand, group.name)
        shapes = merge_shapes(rows)
        out[group.name] = GroupDemand(
            group=group.name,
            counts=count_group(group, [e for e in entries if e.allows(group.name)], shapes, now),
            stale=stale,
            shapes=len(shapes),
            idle_jobs=sum(s.idle for s in shapes),
        )
    return out
