"""History points from one cycle: per entry, per group, factory totals; exits by group."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aglidein.condor.userlog import JobEnd
from aglidein.core.model import (
    Decision,
    DemandSnapshot,
    Glidein,
    GlideinCensus,
    GlideinState,
    JobShape,
    Plan,
    ScheddDemand,
    ShapeCount,
    Slot,
    SlotActivity,
    SubmitRequest,
)
from aglidein.services.history import CycleFacts, HistoryRecorder, cycle_points
from aglidein.services.provisioner import EntryOutcome
from aglidein.services.roster import GlideinRoster
from aglidein.store.history import RANGES, HistoryStore
from tests.adapter_helpers import ENTRY_KINDS, make_config

T0 = 1_800_000_000.0


def glidein(n: int, entry: str, group: str, state: GlideinState) -> Glidein:
    return Glidein(f"g{n}", entry, group, "b1", 10, n, state, T0, T0)


def facts() -> CycleFacts:
    glideins = (
        glidein(0, "A", "cms", GlideinState.IDLE),
        glidein(1, "A", "cms", GlideinState.RUNNING),
        glidein(2, "A", "atlas", GlideinState.RUNNING),
        glidein(3, "B", "atlas", GlideinState.HELD),
    )
    slots = (Slot("slot1@n", "g2", "A", "atlas", SlotActivity.BLACK_HOLE),)
    shape = JobShape(attrs=())
    demand = DemandSnapshot(
        schedds=(
            ScheddDemand("s1", "cms", (ShapeCount(shape, idle=30),)),
            ScheddDemand("s2", "atlas", (ShapeCount(shape, idle=5), ShapeCount(shape, idle=2))),
        )
    )
    plan = Plan(
        cycle=1,
        now=T0,
        decisions=(
            Decision("cms", "A", matching_jobs=30, requested_idle=6),
            Decision("atlas", "A", matching_jobs=7, requested_idle=2),
            Decision("atlas", "B", matching_jobs=7, requested_idle=3),
        ),
        submits=(SubmitRequest("A", "cms", 4), SubmitRequest("A", "atlas", 2)),
    )
    outcomes = {"A": EntryOutcome(submitted=5), "B": EntryOutcome()}
    return CycleFacts(
        demand,
        GlideinCensus(glideins=glideins, slots=slots),
        plan,
        outcomes,
        entry_exits={"A": Counter(ok=2), "B": Counter(validation=1)},
        group_exits={"cms": Counter(ok=2)},
    )


def test_points_per_entry_group_and_factory(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {"A": ENTRY_KINDS["CE"], "B": ENTRY_KINDS["CE"]},
        groups=[
            {"name": "cms", "schedds": ["s1"], "match": "true"},
            {"name": "atlas", "schedds": ["s2"], "match": "true"},
        ],
    )
    points = {(p.scope, p.name): p for p in cycle_points(config, facts())}
    a, b = points["entry", "A"], points["entry", "B"]
    assert (a.idle, a.running, a.held, a.black_hole) == (1, 2, 0, 1)
    assert (a.demand, a.requested, a.submitted, dict(a.exits)) == (37, 8, 5, {"ok": 2})
    assert (b.held, b.demand, b.requested, b.submitted) == (1, 7, 3, 0)
    cms, atlas = points["group", "cms"], points["group", "atlas"]
    assert (cms.idle, cms.running, cms.demand, cms.requested, cms.submitted) == (1, 1, 30, 6, 4)
    assert (atlas.running, atlas.held, atlas.black_hole, atlas.demand) == (1, 1, 1, 7)
    assert atlas.submitted == 1  # A submitted 5 of the 6 asked: cms's 4 first
    assert dict(cms.exits) == {"ok": 2}
    factory = points["factory", ""]
    assert (factory.idle, factory.running, factory.held, factory.black_hole) == (1, 2, 1, 1)
    assert (factory.demand, factory.requested, factory.submitted) == (37, 11, 5)
    assert dict(factory.exits) == {"ok": 2, "validation": 1}


def test_no_glidein_counts_from_a_factory_schedd_that_did_not_answer(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"A": ENTRY_KINDS["CE"]})
    cycle = facts()
    silent = CycleFacts(
        cycle.demand,
        GlideinCensus(glideins=cycle.census.glideins, factory_ok=False),
        cycle.plan,
        cycle.outcomes,
    )
    a = next(p for p in cycle_points(config, silent) if p.name == "A")
    assert (a.idle, a.running, a.held) == (0, 0, 0)


async def test_the_recorder_counts_exits_by_the_glideins_group(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {"A": ENTRY_KINDS["CE"], "B": ENTRY_KINDS["CE"]},
        groups=[
            {"name": "cms", "schedds": ["s1"], "match": "true"},
            {"name": "atlas", "schedds": ["s2"], "match": "true"},
        ],
    )
    roster = GlideinRoster()
    cycle = facts()
    roster.observe(cycle.census, T0)
    store = HistoryStore(tmp_path / "history.db")
    store.open()
    try:
        recorder = HistoryRecorder(store, roster)
        recorder.note_ends([JobEnd(10, 2, 0, None), JobEnd(10, 3, None, None, removed=True)])
        recorder.note_ends([JobEnd(99, 0, 0, None)])  # never seen: no group to count it in
        plain = CycleFacts(cycle.demand, cycle.census, cycle.plan, cycle.outcomes)
        await recorder.record(config, plain, T0)
        assert dict(recorder.latest["group", "atlas"].exits) == {"ok": 1, "removed": 1}
        assert recorder.latest_at == T0
        samples = await store.series("group", "atlas", RANGES["1h"], T0)
        assert samples[0].exits == {"ok": 1, "removed": 1}
        await recorder.record(config, plain, T0 + 60)  # counted once
        assert dict(recorder.latest["group", "atlas"].exits) == {}
    finally:
        store.close()
