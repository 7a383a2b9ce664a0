"""The limits table: one row per configurable limit, the headroom the policy, the
provisioner and the release cap all read."""

from __future__ import annotations

from aglidein.core.limits import LIMITS, Headroom, Kind, Scope
from aglidein.core.model import GlideinCensus, GlideinState, LimitReason
from aglidein.core.policy_census import CensusCounts
from tests.core.test_policy import glidein, make_config

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
