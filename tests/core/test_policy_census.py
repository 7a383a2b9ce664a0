"""The census as the policy counts it (aglidein.core.policy_census): totals per (group,
entry), group, entry and factory, slot activity counts, and which glideins are offered
for removal (newest idle, running with every slot idle, never those of a stale schedd)."""

from __future__ import annotations

from types import MappingProxyType

from aglidein.core.model import Glidein, GlideinCensus, GlideinState, Slot, SlotActivity
from aglidein.core.policy_census import CensusCounts, GlideinTotals

S = GlideinState


def glidein(
    n: int,
    state: GlideinState,
    entry: str = "E1",
    group: str = "g",
    queued: float | None = None,
    schedd: str = "",
) -> Glidein:
    return Glidein(
        glidein_id=f"id{n}",
        entry=entry,
        group=group,
        batch="b",
        cluster=100 + n,
        proc=0,
        state=state,
        entered_state=0.0,
        queued=float(n) if queued is None else queued,
        schedd=schedd,
    )


def slot(n: int, glidein_id: str, activity: SlotActivity, entry: str = "E1") -> Slot:
    return Slot(f"slot{n}@host", glidein_id, entry, "g", activity)


def test_totals_count_states() -> None:
    totals = GlideinTotals()
    for state in S:
        totals.add(state)
    assert (totals.idle, totals.running, totals.held) == (1, 3, 1)  # removed/completed ignored
    assert totals.total == 5
    assert totals.active == 4


def test_sums_per_pair_group_entry_and_factory() -> None:
    census = GlideinCensus(
        glideins=(
            glidein(1, S.IDLE),
            glidein(2, S.RUNNING),
            glidein(3, S.HELD, entry="E2"),
            glidein(4, S.TRANSFERRING, group="h"),
            glidein(5, S.IDLE, entry="E2", group="h"),
        ),
        old_glideins=MappingProxyType({"E1": 7}),
    )
    counts = CensusCounts.of(census)
    assert counts.pair("g", "E1") == GlideinTotals(idle=1, running=1, held=0)
    assert counts.pair("g", "E2") == GlideinTotals(held=1)
    assert counts.pair("h", "E1") == GlideinTotals(running=1)
    assert counts.pair("nope", "E1") == GlideinTotals()
    assert counts.groups["g"] == GlideinTotals(idle=1, running=1, held=1)
    assert counts.groups["h"].active == 2
    assert counts.entries["E2"] == GlideinTotals(idle=1, held=1)
    assert counts.factory == GlideinTotals(idle=2, running=2, held=1)
    assert counts.factory.total == 5
    assert counts.old == {"E1": 7}


def test_newest_idle_in_queue_order() -> None:
    census = GlideinCensus(
        glideins=(
            glidein(1, S.IDLE, queued=30.0),
            glidein(2, S.IDLE, queued=10.0),
            glidein(3, S.IDLE, queued=20.0),
            glidein(4, S.RUNNING, queued=40.0),
        )
    )
    counts = CensusCounts.of(census)
    assert counts.newest_idle("g", "E1", 2) == ("101.0", "103.0")
    assert counts.newest_idle("g", "E1", 3) == ("101.0", "103.0", "102.0")
    assert counts.newest_idle("g", "E1", 0) == ()
    assert counts.newest_idle("g", "E9", 3) == ()


def test_unused_are_running_glideins_whose_every_slot_is_idle() -> None:
    census = GlideinCensus(
        glideins=(
            glidein(1, S.RUNNING, queued=1.0),  # two idle slots: unused
            glidein(2, S.RUNNING, queued=2.0),  # one idle, one busy: used
            glidein(3, S.RUNNING, queued=3.0),  # no slot yet: not offered
            glidein(4, S.RUNNING, queued=4.0),  # idle slot: unused
            glidein(5, S.IDLE, queued=5.0),  # not running
        ),
        slots=(
            slot(1, "id1", SlotActivity.IDLE),
            slot(2, "id1", SlotActivity.IDLE),
            slot(3, "id2", SlotActivity.IDLE),
            slot(4, "id2", SlotActivity.BUSY),
            slot(5, "id4", SlotActivity.IDLE),
            slot(6, "id5", SlotActivity.IDLE),
        ),
    )
    counts = CensusCounts.of(census)
    assert counts.newest_unused("g", "E1", 5) == ("104.0", "101.0")
    assert counts.newest_unused("g", "E1", 1) == ("104.0",)
    assert counts.slot_count("g", "E1", SlotActivity.IDLE) == 5
    assert counts.slot_count("g", "E1", SlotActivity.BUSY) == 1
    assert counts.slot_count("g", "E1", SlotActivity.RETIRING) == 0
    assert counts.slot_count("g", "E2", SlotActivity.IDLE) == 0


def test_glideins_of_a_stale_schedd_count_but_are_never_offered() -> None:
    census = GlideinCensus(
        glideins=(
            glidein(1, S.IDLE, schedd="s1"),
            glidein(2, S.IDLE, schedd="s2"),
            glidein(3, S.RUNNING, schedd="s2"),
            glidein(4, S.RUNNING, schedd="s1"),
        ),
        slots=(slot(1, "id3", SlotActivity.IDLE), slot(2, "id4", SlotActivity.IDLE)),
        stale_schedds=MappingProxyType({"s2": "timed out"}),
    )
    counts = CensusCounts.of(census)
    assert counts.pair("g", "E1") == GlideinTotals(idle=2, running=2)
    assert counts.newest_idle("g", "E1", 5) == ("101.0@s1",)
    assert counts.newest_unused("g", "E1", 5) == ("104.0@s1",)


def test_newest_idle_with_a_count_above_what_is_on_offer() -> None:
    census = GlideinCensus(
        glideins=(
            glidein(1, S.IDLE, queued=30.0),
            glidein(2, S.IDLE, queued=10.0),
            glidein(3, S.IDLE, queued=20.0),
        )
    )
    counts = CensusCounts.of(census)
    assert counts.newest_idle("g", "E1", 5) == ("101.0", "103.0", "102.0")
