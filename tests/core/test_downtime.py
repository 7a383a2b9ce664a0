"""Scheduled downtimes in the core: times operators type, and what a downtime cuts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aglidein.core.cycle import CycleMemory, plan_cycle
from aglidein.core.downtime import DowntimeError, check_window, in_force, parse_when
from aglidein.core.model import Downtime, Glidein, GlideinCensus, GlideinState
from aglidein.core.policy import decide
from tests.core.test_policy import NOW, by_entry, demand, glidein, inputs, make_config, shape

HOUR = 3600.0


def _down(
    entry: str | None = "CE_A",
    group: str | None = None,
    start: float = NOW - HOUR,
    end: float | None = NOW + HOUR,
    id: int = 1,
) -> Downtime:
    return Downtime(id=id, entry=entry, group=group, start=start, end=end, comment="CE upgrade")


def test_times_are_now_relative_or_iso_with_utc_by_default() -> None:
    assert parse_when("now", NOW) == NOW
    assert parse_when("+2h", NOW) == NOW + 2 * HOUR
    assert parse_when("+1d12h", NOW) == NOW + 36 * HOUR
    assert parse_when("2026-01-01T00:00:00Z", 0) == NOW
    assert parse_when("2026-01-01T00:00", 0) == NOW  # no offset: UTC
    assert parse_when("2026-01-01 01:00+01:00", 0) == NOW


@pytest.mark.parametrize(
    "text", ["tomorrow", "+2x", "+", "2026-13-01", "", "+1e400h", "+999999999999d", "0001-01-01"]
)
def test_an_unparseable_time_is_one_clear_line(text: str) -> None:
    with pytest.raises(DowntimeError) as caught:
        parse_when(text, NOW, what="--start")
    message = str(caught.value)
    assert "\n" not in message
    assert "--start" in message
    assert repr(text) in message


def test_a_window_must_end_after_it_starts_and_not_be_over() -> None:
    check_window(NOW, NOW + 1, NOW)
    check_window(NOW, None, NOW)  # until ended by hand
    with pytest.raises(DowntimeError, match="not after the start"):
        check_window(NOW, NOW - 1, NOW - 10)
    with pytest.raises(DowntimeError, match="in the past"):
        check_window(NOW - 10, NOW - 5, NOW)


def test_in_force_honours_the_window_the_entry_and_the_group() -> None:
    later = _down(start=NOW + 60, end=NOW + HOUR, id=2)
    assert in_force([later], "CE_A", "main", NOW) is None
    assert in_force([later], "CE_A", "main", NOW + 60) == later
    assert in_force([later], "CE_A", "main", NOW + HOUR) is None  # the end is exclusive
    assert in_force([_down(entry=None)], "CE_B", "main", NOW) is not None  # all entries
    assert in_force([_down(group="other")], "CE_A", "main", NOW) is None
    assert in_force([_down(group="main")], "CE_A", "main", NOW) is not None
    assert in_force([_down(end=None)], "CE_A", "main", NOW + 1e6) is not None


def test_a_downtime_stops_new_glideins_with_the_reason_and_the_comment() -> None:
    config = make_config(["A", "B"])
    plan = decide(config, inputs(demand(shape("A, B", 40)), downtimes=(_down(),)), NOW)
    rows = by_entry(plan)
    assert rows["CE_A"].requested_idle == 0
    assert rows["CE_A"].submit == 0
    assert "downtime" in rows["CE_A"].limited_by
    assert rows["CE_A"].downtime == "CE upgrade"
    assert rows["CE_A"].matching_jobs == 40  # the counts stay: only what is requested is cut
    assert rows["CE_B"].submit > 0
    assert rows["CE_B"].downtime is None
    assert [s.entry for s in plan.submits] == ["CE_B"]


def test_a_downtime_not_yet_started_or_for_another_group_changes_nothing() -> None:
    config = make_config(["A"])
    snapshot = demand(shape("A", 40))
    plain = decide(config, inputs(snapshot), NOW)
    for downtime in (_down(start=NOW + 60), _down(group="other"), _down(end=NOW)):
        assert decide(config, inputs(snapshot, downtimes=(downtime,)), NOW) == plain


def _idle(n: int, entry: str, group: str = "main") -> Glidein:
    return dataclasses.replace(glidein(n, entry, GlideinState.IDLE, NOW - 600), group=group)


def test_in_a_downtime_idle_glideins_go_and_running_ones_keep_running(tmp_path: Path) -> None:
    config = make_config(["A", "B"])
    census = GlideinCensus(
        glideins=(
            _idle(1, "CE_A"),
            _idle(2, "CE_A", group="other"),
            glidein(3, "CE_A", GlideinState.RUNNING, NOW - 600),
            glidein(4, "CE_A", GlideinState.HELD, NOW - 60),
            _idle(5, "CE_B"),
        ),
        taken_at=NOW,
    )
    planned = plan_cycle(
        config,
        demand(shape("A, B", 40)),
        census,
        {},
        CycleMemory(),
        NOW,
        downtimes=(_down(group="main"),),
    )
    removed = {(r.reason, j) for r in planned.plan.removals for j in r.job_ids}
    assert removed == {("downtime", "101.0")}  # only group main's idle glidein at CE_A
    assert [s.entry for s in planned.plan.submits] == ["CE_B"]


def test_an_ended_downtime_lets_the_entry_be_served_again(tmp_path: Path) -> None:
    config = make_config(["A"])
    ended = _down(end=NOW)
    planned = plan_cycle(
        config, demand(shape("A", 40)), GlideinCensus(), {}, CycleMemory(), NOW, downtimes=[ended]
    )
    assert planned.plan.submits
    assert not planned.plan.removals
