"""The limits table: one row per configurable limit, the headroom the policy, the
provisioner and the release cap all read."""

from __future__ import annotations

from aglidein.core.limits import LIMITS, Headroom, Kind, Scope
from aglidein.core.model import Decision, GlideinCensus, GlideinState, LimitReason
from aglidein.core.policy import decide
from aglidein.core.policy_census import CensusCounts
from tests.core.test_policy import (
    NOW,
    by_entry,
    demand,
    glidein,
    inputs,
    make_config,
    shape,
)

_PREFIX = {
    Scope.GROUP: "group",
    Scope.ENTRY: "entry",
    Scope.FACTORY: "factory",
    Scope.GROUP_AT_ENTRY: "entry.group_limits",
}


def test_every_row_is_named_for_its_config_key() -> None:
    for limit in LIMITS:
        assert limit.reason == f"{_PREFIX[limit.scope]}.{limit.kind.value}"
    reasons = [limit.reason for limit in LIMITS]
    assert len(reasons) == len(set(reasons))
    assert set(reasons) <= set(LimitReason)
    scopes = [limit.scope for limit in LIMITS]  # grouped, in the order Scope lists them
    assert scopes == sorted(scopes, key=list(Scope).index)


def test_headroom_counts_each_kind_and_is_used_up() -> None:
    config = make_config(
        ["A"],
        group_limits={"max_running": 10, "max_idle": 4, "max_held": 3},
        entry_overrides={"A": {"limits": {"max_glideins": 8, "max_idle": 6, "max_held": 1}}},
        factory={"limits": {"max_glideins": 100, "max_idle": 50, "max_held": 50}},
    )
    census = GlideinCensus(
        glideins=(
            glidein(1, "CE_A", GlideinState.IDLE),
            glidein(2, "CE_A", GlideinState.RUNNING),
            glidein(3, "CE_A", GlideinState.HELD),
        )
    )
    headroom = Headroom(config, CensusCounts.of(census))
    rooms = {str(limit.reason): room for limit, room in headroom.rooms("main", "CE_A")}
    assert rooms == {
        "group.max_running": 8,  # idle + running
        "group.max_idle": 3,
        "group.max_held": 2,
        "entry.max_glideins": 5,  # every glidein, held included
        "entry.max_idle": 5,
        "entry.max_held": 0,
        "factory.max_glideins": 97,
        "factory.max_running": 99_998,
        "factory.max_idle": 49,
        "factory.max_held": 49,
    }
    assert headroom.room_for_new("main", "CE_A") == 3  # group.max_idle; held rows ignored
    headroom.add("main", "CE_A", idle=3)
    assert headroom.room_for_new("main", "CE_A") == 0
    assert not headroom.releasable("main", "CE_A")


def test_a_glidein_of_an_unknown_group_meets_only_the_rows_that_exist() -> None:
    config = make_config(["A"], factory={"limits": {"max_idle": 2}})
    headroom = Headroom(config, CensusCounts())
    kinds = {(limit.scope, limit.kind) for limit, _ in headroom.rooms("gone", "CE_A")}
    assert (Scope.GROUP, Kind.MAX_IDLE) not in kinds
    assert (Scope.FACTORY, Kind.MAX_IDLE) in kinds
    assert headroom.room_for_new("gone", "CE_A") == 2


def _cuts(decision: Decision) -> list[tuple[str, str, int, int]]:
    return [(c.reason, c.what, c.before, c.after) for c in decision.cuts]


def test_factory_max_running_counts_idle_and_running_glideins() -> None:
    config = make_config(
        ["A"], factory={"limits": {"max_running": 10}}, group_limits={"ramp_up_attenuation": 1}
    )
    running = tuple(glidein(n, "CE_A", GlideinState.RUNNING) for n in range(7))
    census = GlideinCensus(glideins=(*running, glidein(9, "CE_A", GlideinState.HELD)))
    plan = decide(config, inputs(demand(shape("A", 90)), census), NOW)
    (row,) = plan.decisions
    assert row.submit == 3  # 10 - 7 running; the held one is not counted
    assert "factory.max_running" in row.limited_by
    assert ("factory.max_running", "requested_idle", 90, 3) in _cuts(row)
    assert row.cuts[0].limit == 10


def test_group_limits_at_an_entry_cap_one_group_there() -> None:
    config = make_config(
        ["A", "B"],
        entry_overrides={"A": {"group_limits": {"main": {"max_idle": 2}}}},
        group_limits={"ramp_up_attenuation": 1},
    )
    plan = decide(config, inputs(demand(shape("A", 30), shape("B", 30))), NOW)
    rows = by_entry(plan)
    assert rows["CE_A"].submit == 2
    assert rows["CE_A"].limited_by[0] == "entry.group_limits.max_idle"
    assert rows["CE_B"].submit == 30  # no per-group limit there
    assert "entry.group_limits.max_idle" not in rows["CE_B"].limited_by


def test_an_entry_that_does_not_allow_a_group_gets_none_of_its_demand() -> None:
    config = make_config(["A", "B"], entry_overrides={"B": {"allow_groups": []}})
    plan = decide(config, inputs(demand(shape("A, B", 30))), NOW)
    rows = by_entry(plan)
    assert (rows["CE_B"].submit, rows["CE_B"].limited_by) == (0, ("entry.allow_groups",))
    assert rows["CE_B"].matching_jobs == 0
    assert rows["CE_A"].unique_share == 30.0  # not split with an entry that serves no one
    assert rows["CE_A"].submit == 10


def test_no_demand_says_why() -> None:
    config = make_config(["A", "B"])
    nothing = decide(config, inputs(demand()), NOW)
    assert nothing.decisions[0].cuts[0].detail == "no idle job passed job_constraint"
    elsewhere = by_entry(decide(config, inputs(demand(shape("B", 4))), NOW))["CE_A"]
    assert elsewhere.cuts[0].detail == "4 idle jobs passed job_constraint, none matches"
