"""One decision cycle, the same for the daemon and for `aglidein plan` (DESIGN §2, §12).

Pure: the demand, the glidein census, what the last cycle left (entry health, policy
memory, how long removed glideins have lingered) and the time in; a `CyclePlan` out.
The order is the daemon's:

1. entries in trouble this cycle (hold storms, glideins that never reported) back off;
2. the lifecycle rules pick releases and removals of held, stale, draining, in-downtime
   and stuck glideins; releases are capped by the idle limits;
3. the policy decides on the pool as it will be once released glideins are idle again;
4. the plan's actions and the lifecycle's are merged, each glidein acted on once.

The daemon acts on `CyclePlan.plan` and keeps `health`, `plan.memory` and
`removal_cycles` for the next cycle; `aglidein plan` prints `plan.decisions`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from aglidein.config import Config
from aglidein.core.health import assess_entries, record_failure
from aglidein.core.lifecycle import (
    LifecycleActions,
    after_releases,
    cap_releases,
    count_removal_cycles,
    plan_lifecycle,
)
from aglidein.core.match_counts import GroupDemand
from aglidein.core.model import (
    CredentialState,
    CycleInputs,
    DemandSnapshot,
    Downtime,
    EntryHealth,
    Glidein,
    GlideinCensus,
    GlideinState,
    Plan,
    PolicyMemory,
    split_job_key,
)
from aglidein.core.policy import decide

__all__ = ["CycleMemory", "CyclePlan", "Decide", "plan_cycle", "silent_candidates"]

Decide = Callable[[Config, CycleInputs, float], Plan]  # core.policy.decide, or a test's


@dataclass(frozen=True, slots=True)
class CycleMemory:
    """What a cycle leaves for the next one (the daemon keeps it in the state DB)."""

    health: Mapping[str, EntryHealth] = field(default_factory=lambda: MappingProxyType({}))
    policy: PolicyMemory = field(default_factory=PolicyMemory)
    # job id -> cycles seen in the removed state (forcex after FORCEX_AFTER_CYCLES)
    removal_cycles: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class CyclePlan:
    """The outcome of one decision cycle, before anything is done."""

    plan: Plan  # the decisions and every action: policy's and lifecycle's
    census: GlideinCensus  # the census decided on: released glideins counted idle
    health: Mapping[str, EntryHealth]  # every configured entry, after this cycle's trouble
    troubled: Mapping[str, str]  # entries backed off this cycle -> reason
    removal_cycles: Mapping[str, int]

    @property
    def memory(self) -> CycleMemory:
        """What to carry to the next cycle (health before the provisioner's outcomes)."""
        return CycleMemory(self.health, self.plan.memory, self.removal_cycles)


def plan_cycle(
    config: Config,
    demand: DemandSnapshot,
    census: GlideinCensus,
    credentials: Mapping[str, CredentialState],
    memory: CycleMemory,
    now: float,
    *,
    reported: Collection[str] | None = None,
    cycle: int = 0,
    counts: Mapping[str, GroupDemand] | None = None,
    decide_with: Decide | None = None,
    downtimes: Sequence[Downtime] = (),
) -> CyclePlan:
    """One cycle's plan: trouble → lifecycle → release cap → decide → merged actions.

    `reported` holds the glideins that posted log records (None: unknown; see
    `core.health.assess_entries`). `counts` lets a caller that timed matching on its own
    pass the result in; `decide_with` replaces the policy (tests). `downtimes` are the
    operator's scheduled downtimes (those not in force at `now` change nothing).
    """
    health = dict(memory.health)
    for entry_config in config.entries:
        health.setdefault(entry_config.name, EntryHealth(entry=entry_config.name))
    removal_cycles: Mapping[str, int] = memory.removal_cycles
    troubled: dict[str, str] = {}
    live = _answered(census)
    if census.factory_ok:
        removal_cycles = {
            **_on_stale_schedds(census, removal_cycles),
            **count_removal_cycles(removal_cycles, live),
        }
        if census.collector_ok:
            troubled = assess_entries(config, health, live, census.slots, now, reported=reported)
            for entry, reason in troubled.items():
                current = health.get(entry) or EntryHealth(entry=entry)
                health[entry] = record_failure(current, now, reason, config.factory.backoff)
    lifecycle = (
        plan_lifecycle(
            config,
            live,
            now,
            health=health,
            removal_cycles=removal_cycles,
            downtimes=downtimes,
        )
        if census.factory_ok
        else LifecycleActions()
    )
    releases = cap_releases(config, census.glideins, lifecycle.releases)
    lifecycle = dataclasses.replace(lifecycle, releases=releases)
    released = after_releases(census, releases)
    inputs = CycleInputs(
        demand=demand,
        census=released,
        health=MappingProxyType(dict(health)),
        credentials=MappingProxyType(dict(credentials)),
        memory=memory.policy,
        cycle=cycle,
        downtimes=tuple(downtimes),
    )
    plan = (
        decide(config, inputs, now, counts=counts)
        if decide_with is None
        else decide_with(config, inputs, now)
    )
    return CyclePlan(
        plan=_with_lifecycle(plan, lifecycle),
        census=released,
        health=MappingProxyType(health),
        troubled=MappingProxyType(troubled),
        removal_cycles=MappingProxyType(dict(removal_cycles)),
    )


def silent_candidates(census: GlideinCensus) -> frozenset[str]:
    """Glideins whose log records decide whether they reported: running, without a slot.

    What the daemon keeps of `reported` for `aglidein plan`, which cannot ask the log store.
    """
    with_slot = {s.glidein_id for s in census.slots}
    return frozenset(
        g.glidein_id
        for g in census.glideins
        if g.state is GlideinState.RUNNING and g.glidein_id not in with_slot
    )


def _answered(census: GlideinCensus) -> tuple[Glidein, ...]:
    """The glideins of the factory schedds that answered this cycle: those acted on."""
    if not census.stale_schedds:
        return census.glideins
    return tuple(g for g in census.glideins if g.schedd not in census.stale_schedds)


def _on_stale_schedds(census: GlideinCensus, counts: Mapping[str, int]) -> dict[str, int]:
    """Removal counts of glideins on a schedd that did not answer: kept as they were."""
    return {k: v for k, v in counts.items() if split_job_key(k)[1] in census.stale_schedds}


def _with_lifecycle(plan: Plan, lifecycle: LifecycleActions) -> Plan:
    """The plan plus lifecycle actions; a glidein is acted on once (the plan's first)."""
    planned = {j for r in plan.removals for j in r.job_ids}
    removals = list(plan.removals)
    for request in lifecycle.removals:
        ids = tuple(j for j in request.job_ids if j not in planned)
        if ids:
            removals.append(dataclasses.replace(request, job_ids=ids))
            planned.update(ids)
    released = {j for r in plan.releases for j in r.job_ids}
    releases = list(plan.releases)
    for release in lifecycle.releases:
        ids = tuple(j for j in release.job_ids if j not in released and j not in planned)
        if ids:
            releases.append(dataclasses.replace(release, job_ids=ids))
    return dataclasses.replace(plan, removals=tuple(removals), releases=tuple(releases))
