"""The glidein roster: the queue, the worker nodes, the ends, and a bounded memory."""

from __future__ import annotations

from aglidein.condor.userlog import JobEnd
from aglidein.core.model import (
    Glidein,
    GlideinCensus,
    GlideinState,
    Slot,
    SlotActivity,
)
from aglidein.services.roster import GlideinRoster


def _glidein(n: int, state: GlideinState = GlideinState.RUNNING) -> Glidein:
    return Glidein(
        glidein_id=f"g{n}",
        entry="CE1",
        group="cms",
        batch="b",
        cluster=100 + n,
        proc=0,
        state=state,
        entered_state=10.0,
        queued=5.0,
        job_start=20.0 if state is GlideinState.RUNNING else None,
        grid_job_id=f"condor ce ce:9619 {n}.0",
    )


def _slot(n: int) -> Slot:
    return Slot(
        name=f"slot1@g{n}@wn{n}",
        glidein_id=f"g{n}",
        entry="CE1",
        group="cms",
        activity=SlotActivity.BUSY,
        machine=f"wn{n}.example.org",
    )


def test_the_roster_follows_the_queue_and_keeps_ended_glideins() -> None:
    roster = GlideinRoster()
    roster.observe(
        GlideinCensus(glideins=(_glidein(1), _glidein(2, GlideinState.IDLE)), slots=(_slot(1),)),
        now=100.0,
    )
    first = roster.get("g1")
    assert first is not None
    assert (first.job_id, first.job_state, first.worker) == ("101.0", "running", "wn1.example.org")
    assert first.grid_job_id == "condor ce ce:9619 1.0"
    # the slot is gone from the collector, the glidein still runs: the node stays known
    roster.observe(GlideinCensus(glideins=(_glidein(1), _glidein(2))), now=160.0)
    assert roster.get("g1").worker == "wn1.example.org"  # type: ignore[union-attr]
    # an unanswered poll says nothing about who left
    roster.observe(GlideinCensus(factory_ok=False), now=200.0)
    assert roster.get("g1").job_state == "running"  # type: ignore[union-attr]
    roster.observe(GlideinCensus(glideins=(_glidein(2),)), now=220.0)
    roster.record_ends([JobEnd(101, 0, exit_code=0, signal=None), JobEnd(999, 0, 1, None)], 221.0)
    ended = roster.get("g1")
    assert ended is not None
    assert (ended.job_state, ended.ended, ended.exit_code) == ("ended", 220.0, 0)
    assert ended.exit_reason is not None
    assert [g.glidein for g in roster.glideins()] == ["g1", "g2"]


def test_ended_glideins_are_forgotten_after_a_day_or_past_the_cap() -> None:
    roster = GlideinRoster(keep_s=3600.0, keep_max=2)
    roster.observe(GlideinCensus(glideins=tuple(_glidein(n) for n in range(4))), now=0.0)
    for n in range(4):  # one leaves the queue each minute
        left = tuple(_glidein(k) for k in range(n + 1, 4))
        roster.observe(GlideinCensus(glideins=left), now=60.0 * (n + 1))
    assert [g.glidein for g in roster.glideins()] == ["g2", "g3"]  # the 2 newest ends
    roster.observe(GlideinCensus(), now=180.0 + 3601.0)  # g2 ended at 180, g3 at 240
    assert [g.glidein for g in roster.glideins()] == ["g3"]
    roster.observe(GlideinCensus(), now=240.0 + 3601.0)
    assert len(roster) == 0


def test_job_ids_repeat_across_factory_schedds_and_ends_find_theirs() -> None:
    one = Glidein("a", "CE1", "cms", "b", 1, 0, GlideinState.RUNNING, 0.0, 0.0, schedd="fs1")
    two = Glidein("b", "CE1", "atlas", "b", 1, 0, GlideinState.RUNNING, 0.0, 0.0, schedd="fs2")
    roster = GlideinRoster()
    roster.observe(GlideinCensus(glideins=(one, two)), now=1.0)
    end = JobEnd(1, 0, exit_code=0, signal=None, schedd="fs2")
    assert roster.group_of_job(end) == "atlas"
    roster.record_ends([end], now=2.0)
    assert roster.get("b").exit_reason is not None  # type: ignore[union-attr]
    assert roster.get("a").exit_reason is None  # type: ignore[union-attr]
    assert [(g.schedd, g.job_id) for g in roster.glideins()] == [("fs1", "1.0"), ("fs2", "1.0")]
