"""The fake pool's glidein lifecycle (aglidein.condor.fake_sim.Simulation) on a manual
clock: queue → run with slots → complete, holds and releases, failures, black holes and
silent pilots, removal and forced removal, refused submits, outages, walltime, several
factory schedds, and the user log events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aglidein.clock import ManualClock
from aglidein.condor.api import ActResult, JobAction, SubmitDescription
from aglidein.condor.fake_schedd import JobStatus
from aglidein.condor.fake_sim import Simulation
from aglidein.condor.scenario import Scenario
from aglidein.core.lifecycle import pilot_exit_code
from aglidein.errors import CondorError

T0 = 1_767_225_600.0


def make_sim(
    entries: dict[str, dict[str, Any]] | None = None,
    factory_schedds: tuple[str, ...] = ("local",),
    slots_per_glidein: int = 1,
) -> tuple[Simulation, ManualClock]:
    behaviours = {"default": {"queue_time": 60, "run_time": 600, "jitter": 0}}
    for name, behaviour in (entries or {}).items():
        behaviours[name] = {"queue_time": 60, "run_time": 600, "jitter": 0, **behaviour}
    scenario = Scenario.model_validate(
        {"seed": 1, "slots_per_glidein": slots_per_glidein, "entries": behaviours}
    )
    clock = ManualClock(T0)
    return Simulation(scenario, clock, factory_schedds=factory_schedds), clock


def description(
    entry: str, n: int, log: Path | None = None, *extra: tuple[str, str]
) -> SubmitDescription:
    commands = [
        ("universe", "grid"),
        ("grid_resource", "condor ce.example ce.example:9619"),
        ("executable", "/bin/true"),
        ("+AglideinEntry", f'"{entry}"'),
        ("+AglideinGroup", '"main"'),
        ("+AglideinId", '"$(gid)"'),
        *extra,
    ]
    if log is not None:
        commands.append(("log", str(log)))
    return SubmitDescription(
        commands=tuple(commands),
        queue_vars=("gid",),
        itemdata=tuple({"gid": f"{entry}-{i}"} for i in range(n)),
    )


async def statuses(sim: Simulation) -> dict[str, int]:
    ads = await sim.factory.query("true", ["ClusterId", "ProcId", "JobStatus"])
    return {f"{a['ClusterId']}.{a['ProcId']}": int(a["JobStatus"]) for a in ads}  # type: ignore[call-overload]


async def test_glideins_queue_run_with_slots_and_complete(tmp_path: Path) -> None:
    sim, clock = make_sim(slots_per_glidein=2)
    log = tmp_path / "glideins.log"
    result = await sim.factory.submit(description("CE", 2, log))
    assert result.job_ids == ("1.0", "1.1")
    ad = sim.factory.jobs["1.0"].ad
    assert ad["QDate"] == int(T0)
    assert ad["Owner"] == "aglidein"
    assert ad["JobStatus"] == JobStatus.IDLE
    clock.advance(59)
    assert await statuses(sim) == {"1.0": 1, "1.1": 1}
    assert sim.slots == {}
    clock.advance(1)
    assert await statuses(sim) == {"1.0": 2, "1.1": 2}
    assert ad["JobCurrentStartDate"] == int(T0 + 60)
    assert ad["GridJobId"] == "condor ce.example ce.example:9619 1.0"
    assert sorted(sim.slots) == [
        "slot1@glidein_CE-0@CE",
        "slot1@glidein_CE-1@CE",
        "slot2@glidein_CE-0@CE",
        "slot2@glidein_CE-1@CE",
    ]
    slot = sim.slots["slot1@glidein_CE-0@CE"].ad
    assert slot["Start"] is True
    assert slot["AglideinGroup"] == "main"
    assert slot["DaemonStartTime"] == int(T0 + 60)
    clock.advance(600)
    assert await statuses(sim) == {}  # completed glideins leave the queue
    assert sim.slots == {}
    events = [line[:3] for line in log.read_text().splitlines() if line[:3].isdigit()]
    assert events == ["000", "000", "001", "001", "005", "005"]
    assert "(1) Normal termination (return value 0)" in log.read_text()


async def test_holds_count_system_holds_and_release_requeues() -> None:
    sim, clock = make_sim({"STORM": {"hold_rate": 1.0, "hold_reason_code": 30}})
    await sim.factory.submit(description("STORM", 1))
    clock.advance(60)
    ad = sim.factory.jobs["1.0"].ad
    assert await statuses(sim) == {"1.0": JobStatus.HELD}
    assert ad["HoldReasonCode"] == 30
    assert ad["NumSystemHolds"] == 1
    assert ad["EnteredCurrentStatus"] == int(T0 + 60)
    assert await sim.factory.act(JobAction.HOLD, ["1.0"]) == ActResult(success=1)
    clock.advance(10)
    assert await sim.factory.act(JobAction.RELEASE, ["1.0"], reason="retry") == ActResult(1)
    assert ad["JobStatus"] == JobStatus.IDLE
    assert "HoldReason" not in ad
    assert sim.factory.jobs["1.0"].sim["start_at"] == T0 + 70 + 60
    assert await sim.factory.act(JobAction.RELEASE, ["1.0"]) == ActResult(0, failure=1)
    clock.advance(60)
    sim.step()  # every call into the pool steps it; a test can step it directly
    assert ad["NumSystemHolds"] == 2  # held again by the storm


async def test_user_hold_of_an_idle_glidein() -> None:
    sim, _ = make_sim()
    await sim.factory.submit(description("CE", 1))
    assert await sim.factory.act(JobAction.HOLD, ["1.0"], reason="too many") == ActResult(1)
    ad = sim.factory.jobs["1.0"].ad
    assert ad["HoldReasonCode"] == 1
    assert ad["HoldReason"] == "too many (by user aglidein)"
    assert ad["NumSystemHolds"] == 0


async def test_failing_black_hole_and_silent_pilots(tmp_path: Path) -> None:
    sim, clock = make_sim(
        {
            "BROKEN": {"failure_rate": 1.0, "exit_code": 10},
            "HOLE": {"black_hole": 1.0},
            "SILENT": {"silent_rate": 1.0},
        }
    )
    logs = {entry: tmp_path / f"{entry}.log" for entry in ("BROKEN", "HOLE", "SILENT")}
    for entry, log in logs.items():
        await sim.factory.submit(description(entry, 1, log))
    clock.advance(60)
    assert await statuses(sim) == {"1.0": 2, "2.0": 2, "3.0": 2}
    assert list(sim.slots) == ["slot1@glidein_HOLE-0@HOLE"]  # failed and silent: no startd
    assert sim.slots["slot1@glidein_HOLE-0@HOLE"].ad["Start"] is False
    assert sim.slots["slot1@glidein_HOLE-0@HOLE"].ad["GLIDEIN_BLACKHOLEValue"] == 1
    clock.advance(60)  # a failing pilot ends within a minute
    assert await statuses(sim) == {"2.0": 2, "3.0": 2}
    assert "return value 10" in logs["BROKEN"].read_text()
    clock.advance(600)
    assert await statuses(sim) == {}
    assert f"return value {pilot_exit_code('black_hole')}" in logs["HOLE"].read_text()
    assert "return value 0" in logs["SILENT"].read_text()


async def test_remove_then_gone_unless_the_ce_is_stuck() -> None:
    sim, clock = make_sim()
    await sim.factory.submit(description("CE", 2))
    clock.advance(60)
    sim.step()
    assert len(sim.slots) == 2
    sim.stuck_removals.add("CE")
    result = await sim.factory.act(JobAction.REMOVE, ["1.0", "1.1", "5.0"], reason="excess")
    assert result == ActResult(success=2, not_found=1)
    assert sim.slots == {}
    clock.advance(1)
    assert await statuses(sim) == {"1.0": 3, "1.1": 3}
    assert await sim.factory.act(JobAction.HOLD, ["1.0"]) == ActResult(0, failure=1)
    assert await sim.factory.act(JobAction.REMOVE_X, ["1.0"]) == ActResult(1)
    sim.stuck_removals.clear()
    clock.advance(1)
    assert await statuses(sim) == {}


async def test_removex_only_takes_removed_jobs() -> None:
    sim, _ = make_sim()
    await sim.factory.submit(description("CE", 1))
    assert await sim.factory.act(JobAction.REMOVE_X, ["1.0"]) == ActResult(0, failure=1)
    assert "1.0" in sim.factory.jobs


async def test_refused_submits_number_no_cluster() -> None:
    sim, clock = make_sim(
        {
            "REFUSING": {"submit_failure_rate": 1.0},
            "DOWN": {"outages": [{"start": 0, "end": 3600, "refuse_submit": True}]},
        }
    )
    with pytest.raises(CondorError, match="entry REFUSING refused"):
        await sim.factory.submit(description("REFUSING", 1))
    with pytest.raises(CondorError, match="entry DOWN refused"):
        await sim.factory.submit(description("DOWN", 1))
    clock.advance(3600)
    result = await sim.factory.submit(description("DOWN", 1))
    assert result.cluster == 1
    with pytest.raises(CondorError, match="submit refused"):
        await sim.factory.submit(SubmitDescription((("+Bad", "(("),)))


async def test_an_outage_delays_the_start() -> None:
    sim, clock = make_sim({"LATE": {"outages": [{"start": 0, "end": 1800}]}})
    await sim.factory.submit(description("LATE", 1))
    clock.advance(60)
    assert await statuses(sim) == {"1.0": 1}
    assert sim.factory.jobs["1.0"].sim["start_at"] == T0 + 1800 + 60
    clock.advance(1800)
    assert await statuses(sim) == {"1.0": 2}


async def test_max_walltime_caps_the_run_and_hold_at_submit() -> None:
    sim, clock = make_sim()
    await sim.factory.submit(
        description("CE", 1, None, ("arguments", "--max-walltime 120 --retire-after 60"))
    )
    assert sim.factory.jobs["1.0"].sim["max_walltime"] == 120.0
    assert sim.factory.jobs["1.0"].sim["retire_after"] == 60.0
    clock.advance(60)
    assert await statuses(sim) == {"1.0": 2}
    clock.advance(120)
    assert await statuses(sim) == {}
    await sim.factory.submit(description("CE", 1, None, ("hold", "true")))
    held = sim.factory.jobs["2.0"].ad
    assert held["JobStatus"] == JobStatus.HELD
    assert held["HoldReasonCode"] == 1


async def test_each_factory_schedd_numbers_its_own_clusters() -> None:
    sim, clock = make_sim(factory_schedds=("fa", "fb"))
    assert sim.factory is sim.factories["fa"]
    await sim.factories["fa"].submit(description("CE", 1))
    await sim.factories["fb"].submit(description("CE2", 2))  # glidein ids differ
    assert sorted(sim.factories["fa"].jobs) == ["1.0"]
    assert sorted(sim.factories["fb"].jobs) == ["1.0", "1.1"]
    assert sim.factories["fb"].jobs["1.1"].ad["GlobalJobId"] == "fb#1.1"
    clock.advance(60)
    assert sim.slots == {}  # the clock alone moves nothing
    sim.step()
    assert len(sim.slots) == 3
    clock.advance(600)
    assert await sim.factories["fb"].query() == []
    assert await sim.factories["fa"].query() == []
