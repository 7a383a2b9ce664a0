"""Policy scenarios, read like the GlideinWMS documentation: counting, limits, curbs,
excess removal, stale data, outages, entry health and credentials."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from aglidein.config import Config
from aglidein.core.model import (
    CredentialState,
    CycleInputs,
    Decision,
    DemandSnapshot,
    EntryHealth,
    Glidein,
    GlideinCensus,
    GlideinState,
    JobShape,
    OperatorState,
    Plan,
    PolicyMemory,
    RemoveRequest,
    ScheddDemand,
    ShapeCount,
    Slot,
    SlotActivity,
    SubmitRequest,
)
from aglidein.core.policy import decide

SITE_MATCH = "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)"


def make_config(
    sites: list[str],
    *,
    group_limits: dict[str, Any] | None = None,
    entry_overrides: dict[str, dict[str, Any]] | None = None,
    factory: dict[str, Any] | None = None,
    credentials: list[dict[str, Any]] | None = None,
) -> Config:
    """One group `main` on schedd `s1`, one idtoken entry per site (`CE_<site>`)."""
    entries = []
    for site in sites:
        entry: dict[str, Any] = {
            "name": f"CE_{site}",
            "gridtype": "condor",
            "gatekeeper": f"ce.{site.lower()} ce.{site.lower()}:9619",
            "auth": {"method": "idtoken"},
            "attrs": {"GLIDEIN_Site": site, "GLIDEIN_CPUS": 8},
        }
        entry.update((entry_overrides or {}).get(site, {}))
        entries.append(entry)
    return Config.model_validate(
        {
            "factory": {"name": "f1", "state_dir": "/tmp/x", **(factory or {})},
            "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
            "groups": [
                {
                    "name": "main",
                    "schedds": ["s1"],
                    "match": SITE_MATCH,
                    "limits": group_limits or {},
                }
            ],
            "entries": entries,
            "credentials": credentials or [],
        }
    )


def shape(sites: str, idle: int, running: int = 0) -> ShapeCount:
    """`idle` jobs that want `sites`."""
    return ShapeCount(JobShape(attrs=(("desired_sites", sites),)), idle, running)


def demand(*shapes: ShapeCount, stale_cycles: int = 0) -> DemandSnapshot:
    """The demand of schedd s1 for group main."""
    return DemandSnapshot(
        (
            ScheddDemand(
                "s1", "main", tuple(shapes), ok=stale_cycles == 0, stale_cycles=stale_cycles
            ),
        )
    )


def glidein(n: int, entry: str, state: GlideinState, queued: float = 0.0) -> Glidein:
    """Glidein number n on `entry` for group main."""
    return Glidein(
        glidein_id=f"g{n}",
        entry=entry,
        group="main",
        batch="b1",
        cluster=100 + n,
        proc=0,
        state=state,
        entered_state=queued,
        queued=queued,
    )


def slot(n: int, entry: str, activity: SlotActivity) -> Slot:
    """A slot of glidein n."""
    return Slot(
        name=f"slot1@g{n}", glidein_id=f"g{n}", entry=entry, group="main", activity=activity
    )


def inputs(snapshot: DemandSnapshot, census: GlideinCensus | None = None, **kw: Any) -> CycleInputs:
    """CycleInputs with an empty census by default."""
    return CycleInputs(demand=snapshot, census=census or GlideinCensus(), **kw)


NOW = 1_767_225_600.0


def by_entry(plan: Plan) -> dict[str, Decision]:
    return {d.entry: d for d in plan.decisions}


def test_a_job_matching_two_entries_counts_half_to_each() -> None:
    config = make_config(["A", "B"])
    plan = decide(config, inputs(demand(shape("A, B", 10), shape("A", 4))), NOW)
    rows = by_entry(plan)
    assert (rows["CE_A"].matching_jobs, rows["CE_A"].unique_share, rows["CE_A"].only_here) == (
        14,
        9.0,
        4,
    )
    assert (rows["CE_B"].matching_jobs, rows["CE_B"].unique_share, rows["CE_B"].only_here) == (
        10,
        5.0,
        0,
    )


def test_ramp_up_attenuates_the_first_request() -> None:
    config = make_config(
        ["A"], group_limits={"max_idle_per_entry": 1000, "curb_idle_per_entry": 1000}
    )
    plan = decide(config, inputs(demand(shape("A", 30))), NOW)
    row = by_entry(plan)["CE_A"]
    assert row.requested_idle == 10
    assert row.submit == 10
    assert row.limited_by == ("ramp_up",)
    assert plan.submits == (SubmitRequest(entry="CE_A", group="main", count=10),)
    # next cycle, the demand is old: a reserve of min(30 // 3, reserve_idle=5) is added
    again = decide(config, inputs(demand(shape("A", 30)), memory=plan.memory), NOW + 60)
    assert by_entry(again)["CE_A"].requested_idle == 15


def test_max_idle_per_entry_caps_and_submit_cap_limits_a_cycle() -> None:
    config = make_config(
        ["A"],
        group_limits={
            "ramp_up_attenuation": 1,
            "max_idle_per_entry": 500,
            "max_idle": 5000,
            "curb_idle_per_entry": 1000,
        },
        factory={"submit": {"max_per_cycle": 100}},
    )
    row = by_entry(decide(config, inputs(demand(shape("A", 2000))), NOW))["CE_A"]
    assert row.requested_idle == 500
    assert row.submit == 100
    assert row.limited_by == ("group.max_idle_per_entry", "submit_cap")


def test_an_entry_at_its_limit_gets_nothing_and_says_why() -> None:
    config = make_config(["A"], entry_overrides={"A": {"limits": {"max_glideins": 2}}})
    census = GlideinCensus(
        glideins=(glidein(1, "CE_A", GlideinState.RUNNING), glidein(2, "CE_A", GlideinState.IDLE))
    )
    row = by_entry(decide(config, inputs(demand(shape("A", 50)), census), NOW))["CE_A"]
    assert row.requested_idle == 0
    assert row.submit == 0
    assert "entry.max_glideins" in row.limited_by


def test_each_curb_exceeded_halves_the_request() -> None:
    limits = {"ramp_up_attenuation": 1, "max_idle_per_entry": 1000, "curb_idle_per_entry": 1000}
    free = make_config(["A"], group_limits=limits)
    curbed = make_config(["A"], group_limits={**limits, "curb_idle_per_entry": 2})
    both = make_config(["A"], group_limits={**limits, "curb_idle_per_entry": 2, "curb_idle": 2})
    census = GlideinCensus(glideins=tuple(glidein(n, "CE_A", GlideinState.IDLE) for n in range(2)))
    snapshot = demand(shape("A", 40))
    base = by_entry(decide(free, inputs(snapshot, census), NOW))["CE_A"]
    one = by_entry(decide(curbed, inputs(snapshot, census), NOW))["CE_A"]
    two = by_entry(decide(both, inputs(snapshot, census), NOW))["CE_A"]
    assert base.requested_idle == 40
    assert one.requested_idle == 20
    assert one.limited_by == ("group.curb_idle_per_entry",)
    assert two.requested_idle == 10
    assert two.limited_by == ("group.curb_idle", "group.curb_idle_per_entry")
    assert two.submit == 10 - 2


def test_zero_demand_removes_idle_glideins_only_after_five_cycles() -> None:
    config = make_config(["A"], factory={"submit": {"remove_per_cycle": 2}})
    census = GlideinCensus(
        glideins=tuple(
            glidein(n, "CE_A", GlideinState.IDLE, queued=NOW - 100 + n) for n in range(3)
        )
    )
    memory = PolicyMemory()
    for cycle in range(1, 6):
        plan = decide(config, inputs(demand(), census, memory=memory, cycle=cycle), NOW + cycle)
        memory = plan.memory
        if cycle < 5:
            assert plan.removals == (), cycle
    assert plan.removals == (
        RemoveRequest(entry="CE_A", job_ids=("102.0", "101.0"), reason="excess_idle"),
    )
    assert by_entry(plan)["CE_A"].remove_idle == 2
    # demand comes back: the count starts over
    plan = decide(config, inputs(demand(shape("A", 1)), census, memory=memory), NOW + 10)
    assert plan.removals == ()
    assert plan.memory.zero_demand_cycles[("main", "CE_A")] == 0


def test_a_stale_schedd_keeps_its_demand_for_three_cycles_then_drops_it() -> None:
    config = make_config(["A"])
    for stale in (1, 2, 3):
        row = by_entry(decide(config, inputs(demand(shape("A", 30), stale_cycles=stale)), NOW))[
            "CE_A"
        ]
        assert row.matching_jobs == 30
        assert "stale_data" in row.limited_by
        assert row.requested_idle > 0
    row = by_entry(decide(config, inputs(demand(shape("A", 30), stale_cycles=4)), NOW))["CE_A"]
    assert row.matching_jobs == 0
    assert row.requested_idle == 0
    assert row.limited_by == ("no_demand", "stale_data")


def test_stale_demand_never_counts_towards_removal() -> None:
    config = make_config(["A"])
    census = GlideinCensus(glideins=(glidein(1, "CE_A", GlideinState.IDLE),))
    memory = PolicyMemory()
    for _ in range(12):
        plan = decide(
            config, inputs(demand(shape("A", 3), stale_cycles=9), census, memory=memory), NOW
        )
        memory = plan.memory
        assert plan.removals == ()


@pytest.mark.parametrize("outage", ["collector", "factory"])
def test_a_pool_outage_freezes_every_action(outage: str) -> None:
    config = make_config(["A"])
    census = GlideinCensus(
        glideins=(glidein(1, "CE_A", GlideinState.IDLE),),
        collector_ok=outage != "collector",
        factory_ok=outage != "factory",
    )
    memory = PolicyMemory(zero_demand_cycles=MappingProxyType({("main", "CE_A"): 7}))
    for snapshot in (demand(shape("A", 100)), demand()):
        plan = decide(config, inputs(snapshot, census, memory=memory), NOW)
        assert plan.frozen
        assert plan.submits == ()
        assert plan.removals == ()
        assert all("pool_unreachable" in d.limited_by for d in plan.decisions)
        assert plan.memory == memory


def test_retiring_slots_are_not_idle_capacity() -> None:
    config = make_config(["A"], group_limits={"ramp_up_attenuation": 1, "curb_idle_per_entry": 100})
    idle = GlideinCensus(
        glideins=tuple(glidein(n, "CE_A", GlideinState.RUNNING) for n in range(4)),
        slots=tuple(slot(n, "CE_A", SlotActivity.IDLE) for n in range(4)),
    )
    retiring = GlideinCensus(
        glideins=idle.glideins,
        slots=tuple(slot(n, "CE_A", SlotActivity.RETIRING) for n in range(4)),
    )
    snapshot = demand(shape("A", 10))
    assert by_entry(decide(config, inputs(snapshot, idle), NOW))["CE_A"].requested_idle == 6
    assert by_entry(decide(config, inputs(snapshot, retiring), NOW))["CE_A"].requested_idle == 10


def test_max_glideins_is_under_every_cap_of_the_pair() -> None:
    wanted = int(100 * 1.15 + 1)  # what 100 idle jobs alone would want
    snapshot = demand(shape("A", 100))

    def max_glideins(config: Config, census: GlideinCensus | None = None) -> int:
        return by_entry(decide(config, inputs(snapshot, census), NOW))["CE_A"].max_glideins

    assert max_glideins(make_config(["A"])) == wanted
    group_here = {"A": {"group_limits": {"main": {"max_glideins": 30}}}}
    assert max_glideins(make_config(["A"], entry_overrides=group_here)) == 30
    factory = {"limits": {"max_glideins": 20}}
    assert max_glideins(make_config(["A"], factory=factory)) == 20
    entry = {"A": {"limits": {"max_glideins": 50}}}
    old = GlideinCensus(old_glideins=MappingProxyType({"CE_A": 45}))
    assert max_glideins(make_config(["A"], entry_overrides=entry), old) == 5
    crowded = GlideinCensus(old_glideins=MappingProxyType({"CE_A": 60}))
    assert max_glideins(make_config(["A"], entry_overrides=entry), crowded) == 0


def test_running_jobs_are_counted_from_busy_slots() -> None:
    config = make_config(["A"])
    census = GlideinCensus(
        glideins=tuple(glidein(n, "CE_A", GlideinState.RUNNING) for n in range(3)),
        slots=(
            slot(0, "CE_A", SlotActivity.BUSY),
            slot(1, "CE_A", SlotActivity.BUSY),
            slot(2, "CE_A", SlotActivity.BLACK_HOLE),
        ),
    )
    row = by_entry(decide(config, inputs(demand(shape("A", 10)), census), NOW))["CE_A"]
    assert row.running_jobs == 2
    assert row.running_glideins == 3
    assert row.max_glideins == int((10 + 2) * 1.15 + 1)


def test_disabled_draining_and_backed_off_entries_get_nothing_with_their_reason() -> None:
    config = make_config(["A", "B", "C", "D", "E"], entry_overrides={"E": {"enabled": False}})
    health = {
        "CE_A": EntryHealth("CE_A", operator=OperatorState.DISABLED),
        "CE_B": EntryHealth("CE_B", operator=OperatorState.DRAINING),
        "CE_C": EntryHealth("CE_C", backoff_until=NOW + 300),
    }
    snapshot = demand(shape("A, B, C, D, E", 50))
    rows = by_entry(decide(config, inputs(snapshot, health=health), NOW))
    for name, reason in (
        ("CE_A", "disabled"),
        ("CE_B", "draining"),
        ("CE_C", "backoff"),
        ("CE_E", "disabled"),
    ):
        assert rows[name].requested_idle == 0, name
        assert rows[name].submit == 0
        assert reason in rows[name].limited_by
    assert rows["CE_D"].requested_idle > 0
    # operator and health cuts keep the counts; config `enabled: false` leaves matching
    assert rows["CE_A"].matching_jobs == 50
    assert rows["CE_A"].unique_share == pytest.approx(12.5)
    assert rows["CE_E"].matching_jobs == 0
    # backoff over: back to normal
    later = by_entry(decide(config, inputs(snapshot, health=health), NOW + 301))
    assert later["CE_C"].requested_idle > 0


def test_credentials_missing_or_expiring_stop_new_glideins() -> None:
    scitoken = {"auth": {"method": "scitoken", "credential": "osg"}}
    config = make_config(
        ["A", "B"],
        entry_overrides={"A": scitoken, "B": scitoken},
        credentials=[{"name": "osg", "type": "scitoken", "path": "/t", "min_lifetime": "1h"}],
    )
    snapshot = demand(shape("A, B", 20))
    missing = by_entry(decide(config, inputs(snapshot), NOW))
    assert missing["CE_A"].limited_by[-1] == "no_credential"
    assert missing["CE_A"].requested_idle == 0
    fresh = {"osg": CredentialState("osg", "scitoken", expires=NOW + 7200, refreshable=True)}
    assert (
        by_entry(decide(config, inputs(snapshot, credentials=fresh), NOW))["CE_A"].requested_idle
        > 0
    )
    failing = {"osg": CredentialState("osg", "scitoken", expires=NOW + 600, refreshable=True)}
    rows = by_entry(decide(config, inputs(snapshot, credentials=failing), NOW))
    assert "credential_expiring" in rows["CE_B"].limited_by
    assert rows["CE_B"].requested_idle == 0
    # not refreshable: must outlive a new glidein's max_walltime (48h)
    static = {"osg": CredentialState("osg", "scitoken", expires=NOW + 24 * 3600, refreshable=False)}
    rows = by_entry(decide(config, inputs(snapshot, credentials=static), NOW))
    assert "credential_expiring" in rows["CE_A"].limited_by


def test_entry_and_factory_limits_cap_the_sum_over_groups() -> None:
    config = make_config(
        ["A"],
        group_limits={"ramp_up_attenuation": 1, "curb_idle_per_entry": 1000},
        entry_overrides={"A": {"limits": {"max_idle": 30}}},
    )
    config = config.model_copy(
        update={"groups": [*config.groups, config.groups[0].model_copy(update={"name": "second"})]}
    )
    snapshot = DemandSnapshot(
        (
            ScheddDemand("s1", "main", (shape("A", 25),)),
            ScheddDemand("s1", "second", (shape("A", 25),)),
        )
    )
    plan = decide(config, inputs(snapshot), NOW)
    assert [d.submit for d in plan.decisions] == [25, 5]
    assert "entry.max_idle" in plan.decisions[1].limited_by
    assert sum(s.count for s in plan.submits) == 30


def test_running_glideins_with_only_idle_slots_go_after_ten_cycles() -> None:
    config = make_config(["A"])
    census = GlideinCensus(
        glideins=(
            glidein(1, "CE_A", GlideinState.RUNNING, queued=NOW - 50),
            glidein(2, "CE_A", GlideinState.RUNNING, queued=NOW - 40),
        ),
        slots=(slot(1, "CE_A", SlotActivity.IDLE), slot(2, "CE_A", SlotActivity.BUSY)),
    )
    memory = PolicyMemory()
    for cycle in range(1, 11):
        plan = decide(config, inputs(demand(), census, memory=memory), NOW + cycle)
        memory = plan.memory
        if cycle < 10:
            assert plan.removals == ()
    assert plan.removals == (RemoveRequest(entry="CE_A", job_ids=("101.0",), reason="excess_all"),)


OPEN_GROUP = {
    "ramp_up_attenuation": 1,
    "max_idle": 10_000,
    "max_idle_per_entry": 1000,
    "curb_idle": 10_000,
    "curb_idle_per_entry": 10_000,
}


def two_groups(config: Config) -> Config:
    """The config with a second group `second` just like `main`."""
    second = config.groups[0].model_copy(update={"name": "second"})
    return config.model_copy(update={"groups": [*config.groups, second]})


def both_groups(sites: str, idle: int) -> DemandSnapshot:
    """`idle` jobs wanting `sites` in each of groups main and second."""
    return DemandSnapshot(
        (
            ScheddDemand("s1", "main", (shape(sites, idle),)),
            ScheddDemand("s1", "second", (shape(sites, idle),)),
        )
    )


def glideins_of(
    group: str, entry: str, state: GlideinState, count: int, first: int
) -> list[Glidein]:
    """`count` glideins of (group, entry) in `state`, numbered from `first`."""
    return [
        Glidein(
            glidein_id=f"g{n}",
            entry=entry,
            group=group,
            batch="b1",
            cluster=1000 + n,
            proc=0,
            state=state,
            entered_state=0.0,
            queued=0.0,
        )
        for n in range(first, first + count)
    ]


def census_of(*parts: tuple[str, str, GlideinState, int]) -> GlideinCensus:
    """A census from (group, entry, state, count) parts."""
    glideins: list[Glidein] = []
    for group, entry, state, count in parts:
        glideins += glideins_of(group, entry, state, count, len(glideins))
    return GlideinCensus(glideins=tuple(glideins))


ST = GlideinState
# 120 glideins on the queue in every live state, over both groups and both entries
# (and 30 that have left it: removed or completed ones count for no limit)
BUSY_QUEUE = (
    ("main", "CE_A", ST.RUNNING, 40),
    ("main", "CE_B", ST.IDLE, 20),
    ("second", "CE_A", ST.HELD, 15),
    ("second", "CE_B", ST.TRANSFERRING, 10),
    ("second", "CE_B", ST.SUSPENDED, 10),
    ("main", "CE_B", ST.HELD, 10),
    ("second", "CE_A", ST.RUNNING, 15),
    ("main", "CE_A", ST.REMOVED, 20),
    ("second", "CE_B", ST.COMPLETED, 10),
)


def test_factory_max_glideins_counts_every_live_glidein_and_caps_the_sum() -> None:
    config = two_groups(
        make_config(["A", "B"], group_limits=OPEN_GROUP, factory={"limits": {"max_glideins": 150}})
    )
    plan = decide(config, inputs(both_groups("A, B", 100), census_of(*BUSY_QUEUE)), NOW)
    assert sum(s.count for s in plan.submits) == 150 - 120
    # the first pair takes what fits; every pair after it is told why it gets nothing
    assert [d.submit for d in plan.decisions] == [30, 0, 0, 0]
    assert all("factory.max_glideins" in d.limited_by for d in plan.decisions)
    # the factory full (held ones included): nobody gets anything, and every row says why
    full = census_of(*BUSY_QUEUE, ("second", "CE_A", ST.HELD, 30))
    plan = decide(config, inputs(both_groups("A, B", 100), full), NOW)
    assert plan.submits == ()
    for row in plan.decisions:
        assert row.submit == 0
        assert "factory.max_glideins" in row.limited_by, row


def test_entry_limits_count_every_state_and_cap_the_sum_over_groups() -> None:
    config = two_groups(
        make_config(
            ["A", "B"],
            group_limits=OPEN_GROUP,
            entry_overrides={"A": {"limits": {"max_glideins": 100, "max_idle": 40}}},
        )
    )
    # on CE_A: 55 running, 15 held, 5 idle -> 25 more fit under max_glideins
    census = census_of(*BUSY_QUEUE, ("main", "CE_A", ST.IDLE, 5))
    plan = decide(config, inputs(both_groups("A", 100), census), NOW)
    rows = [d for d in plan.decisions if d.entry == "CE_A"]
    assert sum(d.submit for d in rows) == 25
    assert all("entry.max_glideins" in d.limited_by for d in rows)
    # max_idle is shared the same way: 5 idle, 15 fit
    idle_bound = config.model_copy(
        update={
            "entries": [
                config.entries[0].model_copy(
                    update={"limits": config.entries[0].limits.model_copy(update={"max_idle": 20})}
                ),
                config.entries[1],
            ]
        }
    )
    plan = decide(idle_bound, inputs(both_groups("A", 100), census), NOW)
    rows = [d for d in plan.decisions if d.entry == "CE_A"]
    assert sum(d.submit for d in rows) == 15
    assert sum(d.idle_glideins + d.submit for d in rows) == 20
    assert all("entry.max_idle" in d.limited_by for d in rows)


def test_factory_max_idle_caps_the_sum_over_entries_and_groups() -> None:
    config = two_groups(
        make_config(["A", "B"], group_limits=OPEN_GROUP, factory={"limits": {"max_idle": 50}})
    )
    census = census_of(*BUSY_QUEUE)  # 20 idle
    plan = decide(config, inputs(both_groups("A, B", 100), census), NOW)
    assert sum(s.count for s in plan.submits) == 30
    zero = [d for d in plan.decisions if d.submit == 0]
    assert zero
    assert all("factory.max_idle" in d.limited_by for d in zero)


def test_held_limits_count_held_glideins_of_every_group() -> None:
    entry_held = two_groups(
        make_config(
            ["A", "B"],
            group_limits=OPEN_GROUP,
            entry_overrides={"A": {"limits": {"max_held": 25}}},
        )
    )
    census = census_of(("main", "CE_A", ST.HELD, 12), ("second", "CE_A", ST.HELD, 13))
    plan = decide(entry_held, inputs(both_groups("A, B", 40), census), NOW)
    for row in plan.decisions:
        if row.entry == "CE_A":
            assert (row.requested_idle, row.submit) == (0, 0)
            assert "entry.max_held" in row.limited_by
        else:
            assert row.submit > 0
            assert "entry.max_held" not in row.limited_by
    factory_held = two_groups(
        make_config(["A", "B"], group_limits=OPEN_GROUP, factory={"limits": {"max_held": 25}})
    )
    census = census_of(("main", "CE_A", ST.HELD, 12), ("second", "CE_B", ST.HELD, 13))
    plan = decide(factory_held, inputs(both_groups("A, B", 40), census), NOW)
    assert plan.submits == ()
    assert all("factory.max_held" in d.limited_by for d in plan.decisions)


def test_group_limits_cap_the_sum_over_entries() -> None:
    config = make_config(["A", "B", "C"], group_limits={**OPEN_GROUP, "max_idle": 40})
    plan = decide(config, inputs(demand(shape("A", 30), shape("B", 30), shape("C", 30))), NOW)
    rows = by_entry(plan)
    assert sum(s.count for s in plan.submits) == 40
    assert [rows[e].submit for e in ("CE_A", "CE_B", "CE_C")] == [30, 10, 0]
    assert "group.max_idle" in rows["CE_B"].limited_by
    assert "group.max_idle" in rows["CE_C"].limited_by
    running = make_config(["A", "B"], group_limits={**OPEN_GROUP, "max_running": 50})
    census = GlideinCensus(
        glideins=tuple(glidein(n, "CE_A", ST.RUNNING) for n in range(30)),
    )
    plan = decide(running, inputs(demand(shape("A", 30), shape("B", 30)), census), NOW)
    assert sum(s.count for s in plan.submits) == 20
    assert "group.max_running" in by_entry(plan)["CE_B"].limited_by


def test_an_entry_submit_override_caps_its_own_submits_only() -> None:
    config = make_config(
        ["A", "B"],
        group_limits={
            "ramp_up_attenuation": 1,
            "max_idle_per_entry": 500,
            "max_idle": 5000,
            "curb_idle_per_entry": 1000,
        },
        factory={"submit": {"max_per_cycle": 100}},
        entry_overrides={"A": {"submit": {"max_per_cycle": 7}}},
    )
    rows = by_entry(decide(config, inputs(demand(shape("A", 300), shape("B", 300))), NOW))
    assert (rows["CE_A"].submit, rows["CE_A"].limited_by) == (7, ("submit_cap",))
    assert (rows["CE_B"].submit, rows["CE_B"].limited_by) == (100, ("submit_cap",))
