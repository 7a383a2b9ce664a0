"""Deciding how many glideins each (group, entry) gets (DESIGN §5), GlideinWMS-style.

Per (group, entry): effective idle demand = the idle jobs' unique share (rounded up) less
the idle slots its glideins already offer (retiring and black-hole slots are not idle).
Target idle glideins = min(demand, headroom under every limit) / `ramp_up_attenuation`
+ min(old idle // 3, `reserve_idle`), capped by `max_idle_per_entry`, halved (rounding
up) for each curb exceeded, 0 when a hard limit is hit. New glideins = target − idle
glideins, within `max_per_cycle` and the headroom the pairs planned before left under
limits they share: a group's over its entries, an entry's over the groups (and one
group's at one entry, `group_limits`), the factory's over everything — the rows of
`core.limits.LIMITS`. `max_glideins` counts every glidein on the queue, held ones
included. An entry whose `allow_groups` leaves a group out gets none of its glideins
(`entry.allow_groups`). Entry health, downtimes and credentials cut what is requested,
never the counts. Every cut is recorded with its amounts (`Decision.cuts`).
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
from aglidein.core.limits import Headroom
from aglidein.core.match_counts import EntryCount, GroupDemand, count_demand
from aglidein.core.model import (
    Cut,
    CycleInputs,
    Decision,
    Downtime,
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
_NO_COUNT = EntryCount()  # a pair no idle job matches
_HEALTH_REASON = {
    HealthState.BACKOFF: R.BACKOFF,
    HealthState.DISABLED: R.DISABLED,
    HealthState.DRAINING: R.DRAINING,
}


@dataclass
class _Caps:
    """Per-entry caps per cycle, shared by the entry's groups and used up as they act."""

    submit: dict[str, int]
    remove: dict[str, int]

    @classmethod
    def of(cls, config: Config) -> _Caps:
        """The caps of every entry from its effective `submit` settings (an entry's
        override where set, else the factory's: `effective_submit` without a model copy)."""
        factory = config.factory.submit
        submit, remove = {}, {}
        for entry in config.entries:
            override = entry.submit
            cap = override.max_per_cycle
            submit[entry.name] = factory.max_per_cycle if cap is None else cap
            cap = override.remove_per_cycle
            remove[entry.name] = factory.remove_per_cycle if cap is None else cap
        return cls(submit=submit, remove=remove)


class _Cuts:
    """The rules that cut one pair, in order, with their amounts."""

    def __init__(self) -> None:
        self.items: list[Cut] = []

    def add(
        self,
        reason: str,
        before: int,
        after: int,
        *,
        what: str = "requested_idle",
        limit: int | float | None = None,
        detail: str | None = None,
    ) -> None:
        """Record that `reason` took `what` from `before` to `after`."""
        self.items.append(Cut(str(reason), what, before, after, limit, detail))

    def reasons(self) -> tuple[str, ...]:
        """`limited_by`: each reason once, in the order it first cut."""
        return tuple(dict.fromkeys(c.reason for c in self.items))


def _halve(value: int) -> int:
    return value - value // 2


def _target_idle(
    group: GroupConfig,
    entry: EntryConfig,
    census: CensusCounts,
    headroom: Headroom,
    demand: int,
    old_demand: int,
    cuts: _Cuts,
) -> int:
    """Target idle glideins for one pair with demand > 0 (cuts recorded as they happen).

    Headroom is what the pairs planned before this one left under each shared limit.
    """
    rooms = headroom.values_and_rooms(group.name, entry.name)
    hit = [(limit, value) for limit, value, room in rooms if room <= 0]
    if hit:
        for limit, value in hit:
            note = headroom.note(limit, entry.name)
            cuts.add(limit.reason, demand, 0, limit=value, detail=note)
        return 0
    base = demand
    for limit, value, room in rooms:
        if limit.kind.counts_new and room < base:
            note = headroom.note(limit, entry.name)
            cuts.add(limit.reason, base, room, limit=value, detail=note)
            base = room
    gl = group.limits
    attenuated = max(1, int(base / gl.ramp_up_attenuation))
    if attenuated < base:
        cuts.add(R.RAMP_UP, base, attenuated, limit=gl.ramp_up_attenuation)
    target = attenuated + min(old_demand // 3, gl.reserve_idle)
    if target > gl.max_idle_per_entry:
        cuts.add(
            R.GROUP_MAX_IDLE_PER_ENTRY, target, gl.max_idle_per_entry, limit=gl.max_idle_per_entry
        )
        target = gl.max_idle_per_entry
    group_totals = census.groups[group.name]
    curbs = (
        (group_totals.idle >= gl.curb_idle, R.GROUP_CURB_IDLE, gl.curb_idle),
        (
            census.pair(group.name, entry.name).idle >= gl.curb_idle_per_entry,
            R.GROUP_CURB_IDLE_PER_ENTRY,
            gl.curb_idle_per_entry,
        ),
        (group_totals.running >= gl.curb_running, R.GROUP_CURB_RUNNING, gl.curb_running),
    )
    for exceeded, reason, curb in curbs:
        if exceeded:
            cuts.add(reason, target, _halve(target), limit=curb)
            target = _halve(target)
    return target


def _cap_submit(
    wanted: int, group: str, entry: str, headroom: Headroom, caps: _Caps, cuts: _Cuts
) -> int:
    """New glideins within the shared headroom and the per-cycle cap; headroom is used up."""
    submit = wanted
    for limit, limit_value, room in headroom.values_and_rooms(group, entry):
        if limit.kind.counts_new and submit > room:
            after = max(room, 0)
            note = headroom.note(limit, entry)
            cuts.add(limit.reason, submit, after, what="submit", limit=limit_value, detail=note)
            submit = after
    if submit > caps.submit[entry]:
        cuts.add(R.SUBMIT_CAP, submit, caps.submit[entry], what="submit", limit=caps.submit[entry])
        submit = caps.submit[entry]
    headroom.add(group, entry, idle=submit)
    caps.submit[entry] -= submit
    return submit


def _no_demand_detail(group_demand: GroupDemand, count: EntryCount, idle_slots: int) -> str:
    if group_demand.idle_jobs == 0:
        return "no idle job passed job_constraint"
    if count.matching_jobs == 0:
        return f"{group_demand.idle_jobs} idle jobs passed job_constraint, none matches"
    return f"{count.matching_jobs} matching idle jobs, {idle_slots} idle slots offered"


@dataclass
class _Cycle:
    """What every pair of one decision cycle shares."""

    config: Config
    inputs: CycleInputs
    now: float
    census: CensusCounts
    frozen: bool
    headroom: Headroom
    caps: _Caps
    zero_cycles: dict[tuple[str, str], int]
    idle_demand: dict[tuple[str, str], int]
    removals: list[RemoveRequest]


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
    cycle = _Cycle(
        config=config,
        inputs=inputs,
        now=now,
        census=census,
        frozen=not inputs.census.factory_ok or not inputs.census.collector_ok,
        headroom=Headroom(config, census),
        caps=_Caps.of(config),
        zero_cycles={},
        idle_demand={},
        removals=[],
    )
    decisions: list[Decision] = []
    submits: list[SubmitRequest] = []
    for group in config.groups:
        group_demand = counts.get(group.name) or GroupDemand(group.name)
        for entry in config.entries:
            decision = _decide_pair(cycle, group, entry, group_demand)
            decisions.append(decision)
            if decision.submit > 0:
                submits.append(
                    SubmitRequest(entry=entry.name, group=group.name, count=decision.submit)
                )
    memory = (
        inputs.memory
        if cycle.frozen
        else PolicyMemory(
            zero_demand_cycles=MappingProxyType(cycle.zero_cycles),
            idle_demand=MappingProxyType(cycle.idle_demand),
        )
    )
    return Plan(
        cycle=inputs.cycle,
        now=now,
        decisions=tuple(decisions),
        submits=tuple(submits),
        removals=tuple(cycle.removals),
        frozen=cycle.frozen,
        memory=memory,
    )


def _operator_cuts(
    cycle: _Cycle, group: GroupConfig, entry: EntryConfig, requested: int, cuts: _Cuts
) -> tuple[int, Downtime | None]:
    """Health, downtimes and credentials: they cut what is requested to 0, never counts."""
    now = cycle.now
    health = cycle.inputs.health.get(entry.name)
    if health is not None:
        state = health.state(now, config_enabled=entry.enabled)
    else:  # what a fresh EntryHealth says, without making one per pair
        state = HealthState.OK if entry.enabled else HealthState.DISABLED
    if state is not HealthState.OK:
        cuts.add(_HEALTH_REASON[state], requested, 0)
        requested = 0
    downtimes = cycle.inputs.downtimes
    downtime = in_force(downtimes, entry.name, group.name, now) if downtimes else None
    if downtime is not None:
        cuts.add(R.DOWNTIME, requested, 0, detail=downtime.comment or None)
        requested = 0
    credential = entry_credential_block(cycle.config, entry, cycle.inputs.credentials, now)
    if credential is not None:
        cuts.add(credential, requested, 0)
        requested = 0
    return requested, downtime


def _decide_pair(
    cycle: _Cycle, group: GroupConfig, entry: EntryConfig, group_demand: GroupDemand
) -> Decision:
    """The decision for one (group, entry); submits use up the cycle's shared headroom."""
    census, memory, frozen = cycle.census, cycle.inputs.memory, cycle.frozen
    key = (group.name, entry.name)
    count = group_demand.counts.get(entry.name) or _NO_COUNT
    pair = census.pair(group.name, entry.name)
    cuts = _Cuts()
    idle_slots = census.slot_count(group.name, entry.name, SlotActivity.IDLE)
    running_jobs = census.slot_count(group.name, entry.name, SlotActivity.BUSY)
    demand = max(0, math.ceil(count.unique_share - 1e-9) - idle_slots)
    old_demand = min(demand, memory.idle_demand.get(key, 0))
    if not entry.allows(group.name):
        cuts.add(
            R.ENTRY_ALLOW_GROUPS, 0, 0, detail=f"entry {entry.name} does not serve {group.name}"
        )
        requested = 0
    elif demand == 0:
        detail = _no_demand_detail(group_demand, count, idle_slots)
        cuts.add(R.NO_DEMAND, 0, 0, detail=detail)
        requested = 0
    else:
        requested = _target_idle(group, entry, census, cycle.headroom, demand, old_demand, cuts)
    requested, downtime = _operator_cuts(cycle, group, entry, requested, cuts)
    if group_demand.stale:
        cuts.add(R.STALE_DATA, requested, requested, detail="a schedd's demand is stale")
    submit = 0
    if requested > pair.idle and not frozen:
        submit = _cap_submit(
            requested - pair.idle, group.name, entry.name, cycle.headroom, cycle.caps, cuts
        )
    zero = count.matching_jobs == 0
    previous = memory.zero_demand_cycles.get(key, 0)
    hold = frozen or group_demand.stale
    cycles = (previous + 1 if zero else 0) if not hold else previous
    cycle.zero_cycles[key] = cycles
    cycle.idle_demand[key] = demand
    removed = 0
    if frozen:
        cuts.add(R.POOL_UNREACHABLE, max(0, requested - pair.idle), 0, what="submit")
    else:
        removed = _excess(entry.name, group.name, cycles, pair, requested, census, cycle)
    return Decision(
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
        max_glideins=_max_glideins(cycle, group, entry, count, running_jobs),
        remove_idle=removed,
        limited_by=cuts.reasons(),
        downtime=downtime.comment if downtime is not None else None,
        old_glideins=census.old.get(entry.name, 0),
        cuts=tuple(cuts.items),
    )


def _max_glideins(
    cycle: _Cycle, group: GroupConfig, entry: EntryConfig, count: EntryCount, running_jobs: int
) -> int:
    """The most glideins of `group` at `entry`: what its jobs want, under every cap that
    bounds the pair (the entry's less the old factory's glideins there, the group's at
    the entry, the group's and the factory's)."""
    wanted = int((math.ceil(count.unique_share - 1e-9) + running_jobs) * MAX_GLIDEINS_FACTOR + 1)
    factory = cycle.config.factory.limits
    caps = [
        wanted,
        entry.limits.max_glideins - cycle.census.old.get(entry.name, 0),
        group.limits.max_running,
        factory.max_glideins,
        factory.max_running,
    ]
    here = entry.group_limits.get(group.name)
    if here is not None and here.max_glideins is not None:
        caps.append(here.max_glideins)
    return max(0, min(caps))


def _excess(
    entry: str,
    group: str,
    zero_cycles: int,
    pair: GlideinTotals,
    requested: int,
    census: CensusCounts,
    cycle: _Cycle,
) -> int:
    """Remove idle glideins nobody needs (after 5 cycles), unused running ones after 10."""
    removed = 0
    removals, remove_caps = cycle.removals, cycle.caps.remove
    if zero_cycles >= EXCESS_IDLE_CYCLES and pair.idle > requested:
        count = min(pair.idle - requested, remove_caps[entry])
        job_ids = census.newest_idle(group, entry, count)
        if job_ids:
            removals.append(RemoveRequest(entry=entry, job_ids=job_ids, reason="excess_idle"))
            remove_caps[entry] -= len(job_ids)
            removed += len(job_ids)
    if zero_cycles >= EXCESS_ALL_CYCLES and remove_caps[entry] > 0:
        job_ids = census.newest_unused(group, entry, remove_caps[entry])
        if job_ids:
            removals.append(RemoveRequest(entry=entry, job_ids=job_ids, reason="excess_all"))
            remove_caps[entry] -= len(job_ids)
            removed += len(job_ids)
    return removed
