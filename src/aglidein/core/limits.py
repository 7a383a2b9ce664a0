"""Every hard glidein limit as one table (DESIGN §5): a row names where the limit is set
(its scope), what it counts (its kind) and the reason it gives when it cuts.

The policy's headroom and the provisioner's safety check both iterate `LIMITS` through
`Headroom`, so a new limit is a config key, a `LimitReason` and a row here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import attrgetter

from aglidein.config import Config, EntryConfig, GroupConfig
from aglidein.core.model import LimitReason
from aglidein.core.policy_census import CensusCounts, GlideinTotals

__all__ = ["LIMITS", "Headroom", "Kind", "Limit", "Scope"]

R = LimitReason


class Scope(enum.StrEnum):
    """Which glideins a limit sums over."""

    GROUP = "group"  # a group's glideins at every entry: groups[].limits
    GROUP_AT_ENTRY = "group_at_entry"  # one group's at one entry: entries[].group_limits
    ENTRY = "entry"  # every group's at one entry: entries[].limits
    FACTORY = "factory"  # everything: factory.limits


class Kind(enum.StrEnum):
    """What a limit counts; the value is also the config key that sets it."""

    MAX_GLIDEINS = "max_glideins"  # every glidein on the queue: idle, running and held
    MAX_RUNNING = "max_running"  # idle and running (an idle glidein is about to run)
    MAX_IDLE = "max_idle"
    MAX_HELD = "max_held"

    def counted(self, totals: GlideinTotals) -> int:
        """How many of `totals` this kind counts."""
        return _COUNTED[self](totals)

    @property
    def counts_new(self) -> bool:
        """Whether a new (idle) glidein uses room under this kind: held ones do not."""
        return self is not Kind.MAX_HELD


@dataclass(frozen=True, slots=True)
class Limit:
    """One row of the limits table."""

    scope: Scope
    kind: Kind
    reason: LimitReason

    def value(
        self, config: Config, group: GroupConfig | None, entry: EntryConfig | None
    ) -> int | None:
        """The configured limit for (group, entry); None when this row does not apply."""
        return _value_in(_source(self.scope, config, group, entry), self.kind)


def _source(
    scope: Scope, config: Config, group: GroupConfig | None, entry: EntryConfig | None
) -> object:
    """The config section that sets the limits of `scope` for (group, entry), or None."""
    if scope is Scope.FACTORY:
        return config.factory.limits
    if scope is Scope.GROUP:
        return group.limits if group is not None else None
    if scope is Scope.ENTRY:
        return entry.limits if entry is not None else None
    return entry.group_limits.get(group.name) if entry is not None and group is not None else None


def _value_in(source: object, kind: Kind) -> int | None:
    # a Kind is a str: its value is the config key (getattr without the enum property)
    value = getattr(source, kind, None) if source is not None else None
    return value if isinstance(value, int) else None


# In the order they cut (the order of `limited_by`).
LIMITS: tuple[Limit, ...] = (
    Limit(Scope.GROUP, Kind.MAX_RUNNING, R.GROUP_MAX_RUNNING),
    Limit(Scope.GROUP, Kind.MAX_IDLE, R.GROUP_MAX_IDLE),
    Limit(Scope.GROUP, Kind.MAX_HELD, R.GROUP_MAX_HELD),
    Limit(Scope.GROUP_AT_ENTRY, Kind.MAX_GLIDEINS, R.ENTRY_GROUP_MAX_GLIDEINS),
    Limit(Scope.GROUP_AT_ENTRY, Kind.MAX_IDLE, R.ENTRY_GROUP_MAX_IDLE),
    Limit(Scope.GROUP_AT_ENTRY, Kind.MAX_HELD, R.ENTRY_GROUP_MAX_HELD),
    Limit(Scope.ENTRY, Kind.MAX_GLIDEINS, R.ENTRY_MAX_GLIDEINS),
    Limit(Scope.ENTRY, Kind.MAX_IDLE, R.ENTRY_MAX_IDLE),
    Limit(Scope.ENTRY, Kind.MAX_HELD, R.ENTRY_MAX_HELD),
    Limit(Scope.FACTORY, Kind.MAX_GLIDEINS, R.FACTORY_MAX_GLIDEINS),
    Limit(Scope.FACTORY, Kind.MAX_RUNNING, R.FACTORY_MAX_RUNNING),
    Limit(Scope.FACTORY, Kind.MAX_IDLE, R.FACTORY_MAX_IDLE),
    Limit(Scope.FACTORY, Kind.MAX_HELD, R.FACTORY_MAX_HELD),
)

_Key = tuple[Scope, str, str]
_Row = tuple[Limit, int, GlideinTotals, Callable[[GlideinTotals], int]]
_COUNTED: dict[Kind, Callable[[GlideinTotals], int]] = {
    Kind.MAX_GLIDEINS: attrgetter("total"),
    Kind.MAX_RUNNING: attrgetter("active"),
    Kind.MAX_IDLE: attrgetter("idle"),
    Kind.MAX_HELD: attrgetter("held"),
}  # what each kind counts (GlideinTotals.total counts held glideins too)
# LIMITS by scope; Scope lists the scopes in the order LIMITS has them
_SCOPE_LIMITS = {scope: tuple(r for r in LIMITS if r.scope is scope) for scope in Scope}


class Headroom:
    """Room left under every row of `LIMITS`, used up as glideins are planned or released.

    Counts start from a census (an entry's include the old factory's glideins running
    there during a side-by-side migration); `add` moves them as the caller plans new
    glideins (idle) or releases held ones (held to idle), so pairs planned later see what
    is left.
    """

    def __init__(self, config: Config, census: CensusCounts) -> None:
        self._config = config
        self._groups = {g.name: g for g in config.groups}
        self._entries = {e.name: e for e in config.entries}
        self._counts: dict[_Key, GlideinTotals] = {}
        # rows by scope, keyed (group, entry) with "" where the scope does not split
        self._group_rows: dict[tuple[str, str], list[_Row]] = {}
        self._group_entry_rows: dict[tuple[str, str], list[_Row]] = {}
        self._entry_rows: dict[tuple[str, str], list[_Row]] = {}
        self._factory_rows: dict[tuple[str, str], list[_Row]] = {}
        self._pair_rows: dict[tuple[str, str], list[_Row]] = {}
        for (group, entry), totals in census.pairs.items():
            self._counts[(Scope.GROUP_AT_ENTRY, group, entry)] = replace(totals)
        for group, totals in census.groups.items():
            self._counts[(Scope.GROUP, group, "")] = replace(totals)
        for entry, totals in census.entries.items():
            self._counts[(Scope.ENTRY, "", entry)] = replace(totals)
        self._old = dict(census.old)
        for entry, old in census.old.items():
            # the old factory's glideins run at the entry: they count against its limits
            self._totals(Scope.ENTRY, "", entry).running += old
        self._counts[(Scope.FACTORY, "", "")] = replace(census.factory)

    def _totals(self, scope: Scope, group: str, entry: str) -> GlideinTotals:
        key: _Key = (
            scope,
            group if scope is Scope.GROUP or scope is Scope.GROUP_AT_ENTRY else "",
            entry if scope is Scope.ENTRY or scope is Scope.GROUP_AT_ENTRY else "",
        )
        totals = self._counts.get(key)
        if totals is None:
            totals = self._counts[key] = GlideinTotals()
        return totals

    def _scope_rows(
        self, scope: Scope, group: str, entry: str, cache: dict[tuple[str, str], list[_Row]]
    ) -> list[_Row]:
        """The rows of one scope for (group, entry), built once per group / entry / pair
        (`cache` is the scope's, keyed as `_totals` keys it)."""
        key = (group, entry)
        rows = cache.get(key)
        if rows is None:
            totals = self._totals(scope, group, entry)
            group_config, entry_config = self._groups.get(group), self._entries.get(entry)
            source = _source(scope, self._config, group_config, entry_config)
            rows = []
            for limit in _SCOPE_LIMITS[scope]:
                value = _value_in(source, limit.kind)
                if value is not None:
                    rows.append((limit, value, totals, _COUNTED[limit.kind]))
            cache[key] = rows
        return rows

    def _rows(self, group: str, entry: str) -> list[_Row]:
        """Every row that applies to (group, entry) in cut order, with its configured
        value and the live totals `add` moves."""
        rows = self._pair_rows.get((group, entry))
        if rows is None:
            entry_config = self._entries.get(entry)
            rows = self._scope_rows(Scope.GROUP, group, "", self._group_rows)
            if entry_config is not None and entry_config.group_limits:
                rows = rows + self._scope_rows(
                    Scope.GROUP_AT_ENTRY, group, entry, self._group_entry_rows
                )  # the common case has no per-group limit at the entry: no rows
            rows = (
                rows
                + self._scope_rows(Scope.ENTRY, "", entry, self._entry_rows)
                + self._scope_rows(Scope.FACTORY, "", "", self._factory_rows)
            )
            self._pair_rows[(group, entry)] = rows
        return rows

    def rooms(self, group: str, entry: str) -> list[tuple[Limit, int]]:
        """(row, room left) for every row that applies to (group, entry), in cut order."""
        return [
            (limit, value - counted(totals))
            for limit, value, totals, counted in self._rows(group, entry)
        ]

    def values_and_rooms(self, group: str, entry: str) -> list[tuple[Limit, int, int]]:
        """(row, its configured value, room left) for every row that applies to (group,
        entry), in cut order: `rooms` with the values `value` would look up."""
        return [
            (limit, value, value - counted(totals))
            for limit, value, totals, counted in self._rows(group, entry)
        ]

    def value(self, limit: Limit, group: str, entry: str) -> int | None:
        """The configured value of `limit` for (group, entry)."""
        return limit.value(self._config, self._groups.get(group), self._entries.get(entry))

    def note(self, limit: Limit, entry: str) -> str | None:
        """What a cut by `limit` should add: the old factory's glideins it counted."""
        old = self._old.get(entry, 0)
        if limit.scope is Scope.ENTRY and old > 0:
            return f"{old} of the old factory's glideins counted"
        return None

    def room_for_new(self, group: str, entry: str) -> int | None:
        """New glideins (group, entry) may still get under every limit; None: no limit."""
        rooms = [room for limit, room in self.rooms(group, entry) if limit.kind.counts_new]
        return max(0, min(rooms)) if rooms else None

    def releasable(self, group: str, entry: str) -> bool:
        """Whether a held glidein of (group, entry) may be released: it becomes idle, so
        every idle and running limit needs room for one more."""
        return all(
            room > 0
            for limit, room in self.rooms(group, entry)
            if limit.kind in (Kind.MAX_IDLE, Kind.MAX_RUNNING)
        )

    def add(self, group: str, entry: str, *, idle: int = 0, held: int = 0) -> None:
        """Glideins of (group, entry) became idle (new or released) or left held."""
        for scope in Scope:
            totals = self._totals(scope, group, entry)
            totals.idle += idle
            totals.held += held
