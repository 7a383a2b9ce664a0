"""Held, stale, draining and stuck glideins (DESIGN §6)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aglidein.core.lifecycle import (
    after_releases,
    cap_releases,
    count_removal_cycles,
    exit_reason,
    plan_lifecycle,
)
from aglidein.core.model import EntryHealth, Glidein, GlideinCensus, GlideinState, OperatorState
from tests.adapter_helpers import idtoken_entry, make_config

NOW = 1_800_000_000.0


def _g(
    proc: int,
    state: GlideinState,
    entered: float,
    *,
    holds: int = 0,
    code: int | None = None,
    entry: str = "CE",
) -> Glidein:
    return Glidein(
        glidein_id=f"g{proc}",
        entry=entry,
        group="main",
        batch="b",
        cluster=7,
        proc=proc,
        state=state,
        entered_state=entered,
        queued=entered,
        num_system_holds=holds,
        hold_reason_code=code,
    )


def test_recoverable_holds_wait_num_system_holds_times_five_minutes(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    glideins = [
        _g(0, GlideinState.HELD, NOW - 299, holds=1, code=0),  # not yet
        _g(1, GlideinState.HELD, NOW - 300, holds=1, code=0),  # 5 min: release
        _g(2, GlideinState.HELD, NOW - 900, holds=3, code=2),  # 15 min: release
        _g(3, GlideinState.HELD, NOW - 1000, holds=4, code=0),  # needs 20 min
    ]
    actions = plan_lifecycle(config, glideins, NOW)
    assert [r.job_ids for r in actions.releases] == [("7.2", "7.1")]  # oldest first
    assert actions.removals == ()


def test_release_cap_unrecoverable_and_too_many_holds(tmp_path: Path) -> None:
    config = make_config(tmp_path, factory={"submit": {"release_per_cycle": 2}})
    glideins = [_g(i, GlideinState.HELD, NOW - 3600 - i, holds=1, code=0) for i in range(5)]
    glideins += [
        _g(10, GlideinState.HELD, NOW, holds=1, code=13 + 1),  # IwdError: unrecoverable
        _g(11, GlideinState.HELD, NOW - 86400, holds=11, code=0),  # released 10 times
    ]
    actions = plan_lifecycle(config, glideins, NOW)
    assert actions.releases[0].job_ids == ("7.4", "7.3")
    reasons = {r.reason: r.job_ids for r in actions.removals}
    assert reasons == {"held_unrecoverable": ("7.10",), "held_too_often": ("7.11",)}


def test_stale_glideins_are_removed(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    glideins = [
        _g(0, GlideinState.IDLE, NOW - 7 * 86400 - 1),
        _g(1, GlideinState.IDLE, NOW - 6 * 86400),
        _g(2, GlideinState.RUNNING, NOW - 31 * 86400 - 1),
        _g(3, GlideinState.RUNNING, NOW - 30 * 86400),
    ]
    reasons = {r.reason: r.job_ids for r in plan_lifecycle(config, glideins, NOW).removals}
    assert reasons == {"stale_idle": ("7.0",), "stale_running": ("7.2",)}


def test_drain_gentle_and_hard(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    glideins = [
        _g(0, GlideinState.IDLE, NOW),
        _g(1, GlideinState.RUNNING, NOW),
        _g(2, GlideinState.HELD, NOW, holds=1, code=0),
    ]
    gentle = {"CE": EntryHealth(entry="CE", operator=OperatorState.DRAINING)}
    actions = plan_lifecycle(config, glideins, NOW, health=gentle)
    assert [(r.reason, r.job_ids) for r in actions.removals] == [("drain", ("7.0", "7.2"))]
    hard = {"CE": EntryHealth(entry="CE", operator=OperatorState.DRAINING, drain_hard=True)}
    actions = plan_lifecycle(config, glideins, NOW, health=hard)
    assert [(r.reason, r.job_ids) for r in actions.removals] == [("drain", ("7.0", "7.1", "7.2"))]


def test_forcex_after_twenty_cycles_in_removed_state(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    stuck = [_g(0, GlideinState.REMOVED, NOW), _g(1, GlideinState.IDLE, NOW)]
    cycles: dict[str, int] = {}
    for _ in range(19):
        cycles = count_removal_cycles(cycles, stuck)
        assert plan_lifecycle(config, stuck, NOW, removal_cycles=cycles).removals == ()
    cycles = count_removal_cycles(cycles, stuck)
    (forcex,) = plan_lifecycle(config, stuck, NOW, removal_cycles=cycles).removals
    assert forcex.force
    assert forcex.job_ids == ("7.0",)
    assert count_removal_cycles(cycles, []) == {}  # gone: forgotten


def test_exit_reasons_follow_design_codes() -> None:
    codes = {0: "ok", 2: "bad_arguments", 10: "validation_failed", 11: "condor_failed"}
    codes |= {12: "black_hole", 13: "signalled", 1: "other", 255: "other"}
    assert {c: exit_reason(c) for c in codes} == codes
    assert exit_reason(None, signal=9) == "signalled"
    assert exit_reason(None) == "other"


def test_releases_fit_under_the_idle_limits_and_the_census_shows_them_idle(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path,
        {"CE": idtoken_entry("A", limits={"max_idle": 4}), "CE2": idtoken_entry("B")},
        factory={"limits": {"max_idle": 6}},
    )
    glideins = [_g(0, GlideinState.IDLE, NOW), _g(1, GlideinState.IDLE, NOW)]
    glideins += [_g(i, GlideinState.HELD, NOW - 3600 - i, holds=1) for i in range(2, 6)]
    glideins += [_g(i, GlideinState.HELD, NOW - 3600 - i, entry="CE2", holds=1) for i in (6, 7, 8)]
    releases = plan_lifecycle(config, glideins, NOW).releases
    assert sum(len(r.job_ids) for r in releases) == 7
    kept = cap_releases(config, glideins, releases)
    # CE: 2 idle, 2 more fit its max_idle; then the factory's 6 leaves 2 for CE2
    assert {r.entry: len(r.job_ids) for r in kept} == {"CE": 2, "CE2": 2}
    census = after_releases(GlideinCensus(glideins=tuple(glideins)), kept)
    states = Counter(g.state for g in census.glideins)
    assert states == {GlideinState.IDLE: 6, GlideinState.HELD: 3}
    assert after_releases(census, ()) is census


def test_releases_do_not_take_a_group_past_max_running(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {"CE": idtoken_entry("A")},
        groups=[{"name": "main", "schedds": ["s"], "match": "true", "limits": {"max_running": 5}}],
    )
    glideins = [_g(i, GlideinState.RUNNING, NOW) for i in range(3)]
    glideins += [_g(3, GlideinState.IDLE, NOW)]
    glideins += [_g(i, GlideinState.HELD, NOW - 3600 - i, holds=1) for i in (4, 5, 6)]
    releases = plan_lifecycle(config, glideins, NOW).releases
    assert sum(len(r.job_ids) for r in releases) == 3
    # 3 running + 1 idle: one released glidein brings the group to its max_running of 5
    kept = cap_releases(config, glideins, releases)
    assert [len(r.job_ids) for r in kept] == [1]
    census = after_releases(GlideinCensus(glideins=tuple(glideins)), kept)
    active = [g for g in census.glideins if g.state is not GlideinState.HELD]
    assert len(active) == 5
