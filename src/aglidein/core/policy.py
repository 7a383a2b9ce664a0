"""Deciding how many glideins each (group, entry) gets (DESIGN §5), GlideinWMS-style.

Per (group, entry): effective idle demand = the idle jobs' unique share (rounded up) less
the idle slots its glideins already offer (retiring and black-hole slots are not idle).
Target idle glideins = min(demand, headroom under every limit) / `ramp_up_attenuation`
+ min(old idle // 3, `reserve_idle`), capped by `max_idle_per_entry`, halved (rounding
up) for each curb exceeded, 0 when a hard limit is hit. New glideins = target − idle
glideins, within `max_per_cycle` and the headroom the pairs planned before left under
limits they share: a group's over its entries, an entry's over the groups, the
factory's over everything. `max_glideins` counts every glidein on the queue, held ones
included. Entry health, downtimes and credentials cut what is requested, never the counts.
Idle glideins are removed only after 5 cycles of zero demand (running glideins whose
slots are all idle after 10), at most `remove_per_cycle`. A census from a failed
collector or factory schedd freezes every action.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aglidein.config import Config, EntryConfig, GroupConfig
from aglidein.core.credstate import entry_credential_block
from aglidein.core.downtime import in_force
from aglidein.core.match_counts import EntryCount, GroupDemand, count_demand
from aglidein.core.model import (
    CycleInputs,
    Decision,
    EntryHealth,
    HealthState,
    LimitReason,
    Plan,
    PolicyMemory,
    RemoveRequest,
    SlotActivity,
    SubmitRequest,
)
from aglidein.core.policy_census import CensusCounts, GlideinTotals

__all__ = ["EXCESS_ALL_CYCLES", "EXCESS_IDLE_CYCLES", "MAX_GLIDEINS_FACTOR", "decide"]

EXCESS_IDLE_CYCLES = 5
EXCESS_ALL_CYCLES = 10
MAX_GLIDEINS_FACTOR = 1.15
R = LimitReason
_HEALTH_REASON = {
    HealthState.BACKOFF: R.BACKOFF,
    HealthState.DISABLED: R.DISABLED,
    HealthState.DRAINING: R.DRAINING,
}


@dataclass
class _Rooms:
    """Headroom left under every limit shared by several pairs, used up as pairs submit.

    Group limits cap the sum over the group's entries; entry limits the sum over groups;
    factory limits the sum over everything. New glideins start idle: they use total and
    idle headroom, never held headroom.
    """

    group_total: dict[str, int]
    group_idle: dict[str, int]
    group_held: dict[str, int]
    entry_total: dict[str, int]
    entry_idle: dict[str, int]
    entry_held: dict[str, int]
    entry_cycle: dict[str, int]
    entry_remove: dict[str, int]
    factory_total: int
    factory_idle: int
    factory_held: int

    def limits(self, group: str, entry: str) -> list[tuple[R, int]]:
        """(reason, headroom) for every hard limit of a pair, in the order they cut."""
        return [
            (R.GROUP_MAX_RUNNING, self.group_total[group]),
            (R.GROUP_MAX_IDLE, self.group_idle[group]),
            (R.GROUP_MAX_HELD, self.group_held[group]),
            (R.ENTRY_MAX_GLIDEINS, self.entry_total[entry]),
            (R.ENTRY_MAX_IDLE, self.entry_idle[entry]),
            (R.ENTRY_MAX_HELD, self.entry_held[entry]),
            (R.FACTORY_MAX_GLIDEINS, self.factory_total),
            (R.FACTORY_MAX_IDLE, self.factory_idle),
            (R.FACTORY_MAX_HELD, self.factory_held),
        ]

    def use(self, group: str, entry: str, count: int) -> None:
        """`count` new idle glideins were planned for (group, entry)."""
        for rooms, key in (
            (self.group_total, group),
            (self.group_idle, group),
            (self.entry_total, entry),
            (self.entry_idle, entry),
            (self.entry_cycle, entry),
        ):
            rooms[key] -= count
        self.factory_total -= count
        self.factory_idle -= count


def _rooms(config: Config, census: CensusCounts) -> _Rooms:
    limits = config.factory.limits
    groups = {g.name: (g.limits, census.groups[g.name]) for g in config.groups}
    entries = {e.name: (e.limits, census.entries[e.name]) for e in config.entries}
    return _Rooms(
        group_total={n: gl.max_running - g.active for n, (gl, g) in groups.items()},
        group_idle={n: gl.max_idle - g.idle for n, (gl, g) in groups.items()},
        group_held={n: gl.max_held - g.held for n, (gl, g) in groups.items()},
        entry_total={n: el.max_glideins - e.total for n, (el, e) in entries.items()},
        entry_idle={n: el.max_idle - e.idle for n, (el, e) in entries.items()},
        entry_held={n: el.max_held - e.held for n, (el, e) in entries.items()},
        entry_cycle={
            e.name: e.effective_submit(config.factory).max_per_cycle for e in config.entries
        },
        entry_remove={
            e.name: e.effective_submit(config.factory).remove_per_cycle for e in config.entries
        },
        factory_total=limits.max_glideins - census.factory.total,
        factory_idle=limits.max_idle - census.factory.idle,
        factory_held=limits.max_held - census.factory.held,
    )


_HELD_LIMITS = (R.GROUP_MAX_HELD, R.ENTRY_MAX_HELD, R.FACTORY_MAX_HELD)


def _halve(value: int) -> int:
    return value - value // 2


def _target_idle(
    group: GroupConfig,
    entry: EntryConfig,
    census: CensusCounts,
    rooms: _Rooms,
    demand: int,
    old_demand: int,
    reasons: list[str],
) -> int:
    """Target idle glideins for one pair with demand > 0 (reasons appended as they cut).

    Headroom is what the pairs planned before this one left under each shared limit.
    """
    limits = rooms.limits(group.name, entry.name)
    hit = [reason for reason, room in limits if room <= 0]
    if hit:
        reasons.extend(hit)
        return 0
    base = demand
    for reason, room in limits:
        if reason not in _HELD_LIMITS and room < base:
            base = room
            reasons.append(reason)
    gl = group.limits
    attenuated = max(1, int(base / gl.ramp_up_attenuation))
    if attenuated < base:
        reasons.append(R.RAMP_UP)
    target = attenuated + min(old_demand // 3, gl.reserve_idle)
    if target > gl.max_idle_per_entry:
        target = gl.max_idle_per_entry
        reasons.append(R.GROUP_MAX_IDLE_PER_ENTRY)
    group_totals = census.groups[group.name]
    if group_totals.idle >= gl.curb_idle:
        target = _halve(target)
        reasons.append(R.GROUP_CURB_IDLE)
    if census.pair(group.name, entry.name).idle >= gl.curb_idle_per_entry:
        target = _halve(target)
        reasons.append(R.GROUP_CURB_IDLE_PER_ENTRY)
    if group_totals.running >= gl.curb_running:
        target = _halve(target)
        reasons.append(R.GROUP_CURB_RUNNING)
    return target


def _cap_submit(wanted: int, group: str, entry: str, rooms: _Rooms, reasons: list[str]) -> int:
    """New glideins within the shared headroom and the per-cycle cap; rooms are used up."""
    submit = wanted
    for reason, room in rooms.limits(group, entry):
        if reason not in _HELD_LIMITS and submit > room:
            submit = max(room, 0)
            if reason not in reasons:
                reasons.append(reason)
    if submit > rooms.entry_cycle[entry]:
        submit = rooms.entry_cycle[entry]
        reasons.append(R.SUBMIT_CAP)
    rooms.use(group, entry, submit)
    return submit


def decide(
    config: Config,
    inputs: CycleInputs,
    now: float,
    *,
    counts: Mapping[str, GroupDemand] | None = None,
) -> Plan:
    """One decision cycle: a Decision per (group, entry), and the submits and removals.

    `counts` lets a caller that timed matching on its own pass the result in.
    """
    if counts is None:
        counts = count_demand(config, inputs.demand, now)
    census = CensusCounts.of(inputs.census)
    frozen = not inputs.census.factory_ok or not inputs.census.collector_ok
    rooms = _rooms(config, census)
    zero_cycles: dict[tuple[str, str], int] = {}
    idle_demand: dict[tuple[str, str], int] = {}
    decisions: list[Decision] = []
    submits: list[SubmitRequest] = []
    removals: list[RemoveRequest] = []
    for group in config.groups:
        group_demand = counts.get(group.name) or GroupDemand(group.name)
        for entry in config.entries:
            key = (group.name, entry.name)
            count = group_demand.counts.get(entry.name, EntryCount())
            pair = census.pair(group.name, entry.name)
            reasons: list[str] = []
            idle_slots = census.slot_count(group.name, entry.name, SlotActivity.IDLE)
            running_jobs = census.slot_count(group.name, entry.name, SlotActivity.BUSY)
            demand = max(0, math.ceil(count.unique_share - 1e-9) - idle_slots)
            old_demand = min(demand, inputs.memory.idle_demand.get(key, 0))
            if demand == 0:
                reasons.append(R.NO_DEMAND)
                requested = 0
            else:
                requested = _target_idle(group, entry, census, rooms, demand, old_demand, reasons)
            health = inputs.health.get(entry.name) or EntryHealth(entry.name)
            state = health.state(now, config_enabled=entry.enabled)
            if state is not HealthState.OK:
                reasons.append(_HEALTH_REASON[state])
                requested = 0
            downtime = in_force(inputs.downtimes, entry.name, group.name, now)
            if downtime is not None:
                reasons.append(R.DOWNTIME)
                requested = 0
            credential = entry_credential_block(config, entry, inputs.credentials, now)
            if credential is not None:
                reasons.append(credential)
                requested = 0
            if group_demand.stale:
                reasons.append(R.STALE_DATA)
            submit = 0
            if requested > pair.idle and not frozen:
                submit = _cap_submit(requested - pair.idle, group.name, entry.name, rooms, reasons)
            zero = count.matching_jobs == 0
            previous = inputs.memory.zero_demand_cycles.get(key, 0)
            hold = frozen or group_demand.stale
            cycles = (previous + 1 if zero else 0) if not hold else previous
            zero_cycles[key] = cycles
            idle_demand[key] = demand
            removed = (
                0
                if frozen
                else _excess(
                    entry.name, group.name, cycles, pair, requested, census, rooms, removals
                )
            )
            if frozen:
                reasons.append(R.POOL_UNREACHABLE)
            decisions.append(
                Decision(
                    group=group.name,
                    entry=entry.name,
                    matching_jobs=count.matching_jobs,
                    unique_share=count.unique_share,
                    only_here=count.only_here,
                    running_jobs=running_jobs,
                    idle_glideins=pair.idle,
                    running_glideins=pair.running,
                    held_glideins=pair.held,
                    requested_idle=requested,
                    submit=submit,
                    max_glideins=_max_glideins(group, entry, count, running_jobs),
                    remove_idle=removed,
                    limited_by=tuple(dict.fromkeys(str(r) for r in reasons)),
                    downtime=downtime.comment if downtime is not None else None,
                )
            )
            if submit > 0:
                submits.append(SubmitRequest(entry=entry.name, group=group.name, count=submit))
    memory = (
        inputs.memory
        if frozen
        else PolicyMemory(
            zero_demand_cycles=MappingProxyType(zero_cycles),
            idle_demand=MappingProxyType(idle_demand),
        )
    )
    return Plan(
        cycle=inputs.cycle,
        now=now,
        decisions=tuple(decisions),
        submits=tuple(submits),
        removals=tuple(removals),
        frozen=frozen,
        memory=memory,
    )


def _max_glideins(
    group: GroupConfig, entry: EntryConfig, count: EntryCount, running_jobs: int
) -> int:
    wanted = int((math.ceil(count.unique_share - 1e-9) + running_jobs) * MAX_GLIDEINS_FACTOR + 1)
    return min(wanted, entry.limits.max_glideins, group.limits.max_running)


def _excess(
    entry: str,
    group: str,
    zero_cycles: int,
    pair: GlideinTotals,
    requested: int,
    census: CensusCounts,
    rooms: _Rooms,
    removals: list[RemoveRequest],
) -> int:
    """Remove idle glideins nobody needs (after 5 cycles), unused running ones after 10."""
    removed = 0
    if zero_cycles >= EXCESS_IDLE_CYCLES and pair.idle > requested:
        count = min(pair.idle - requested, rooms.entry_remove[entry])
        job_ids = census.newest_idle(group, entry, count)
        if job_ids:
            removals.append(RemoveRequest(entry=entry, job_ids=job_ids, reason="excess_idle"))
            rooms.entry_remove[entry] -= len(job_ids)
            removed += len(job_ids)
    if zero_cycles >= EXCESS_ALL_CYCLES and rooms.entry_remove[entry] > 0:
        job_ids = census.newest_unused(group, entry, rooms.entry_remove[entry])
        if job_ids:
            removals.append(RemoveRequest(entry=entry, job_ids=job_ids, reason="excess_all"))
            rooms.entry_remove[entry] -= len(job_ids)
            removed += len(job_ids)
    return removed
