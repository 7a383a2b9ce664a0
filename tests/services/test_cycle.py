"""The whole cycle on the simulated pool: poller, policy, lifecycle, provisioner, health."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from aglidein.clock import ManualClock
from aglidein.condor.api import JobAction
from aglidein.condor.fake import FakePool, Scenario
from aglidein.condor.scenario import EntryBehaviour, JobSpec, ScheddSpec
from aglidein.config import Config
from aglidein.core.health import effective_state
from aglidein.core.lifecycle import MAX_RELEASES
from aglidein.core.model import (
    CycleInputs,
    GlideinState,
    HealthState,
    OperatorState,
    Plan,
    SubmitRequest,
)
from aglidein.services.cycle import CycleService
from aglidein.services.cycle_setup import build_cycle, token_writer
from aglidein.services.glidein_files import PilotKit
from aglidein.state import StateDB
from tests.adapter_helpers import (
    idtoken_entry,
    make_config,
    make_runtime,
    metric,
    placeholder_pilot,
)
from tests.services.test_provisioner import AcceptsThenHangs, PoolWithSchedd

MATCH = "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)"
SITES = "SiteA,SiteB,SiteC,SiteD,SiteE,SiteS"


def _scenario(**behaviours: EntryBehaviour) -> Scenario:
    jobs = JobSpec(count=300, attrs={"DESIRED_Sites": SITES}, run_time=3 * 3600)
    arrivals = {"every": 1800, "count": 20, "attrs": {"DESIRED_Sites": SITES}, "run_time": 7200}
    return Scenario.model_validate(
        {
            "seed": 11,
            "schedds": [ScheddSpec(name="schedd1", jobs=[jobs], arrivals=[arrivals]).model_dump()],
            "entries": {
                "default": {"queue_time": 120, "run_time": 4 * 3600, "jitter": 0.2},
                **{k: v.model_dump() for k, v in behaviours.items()},
            },
        }
    )


class Factory:
    """One daemon's cycle on a (possibly shared) simulated pool and state DB path."""

    def __init__(
        self,
        tmp_path: Path,
        config: Config,
        pool: Any,
        clock: ManualClock,
        *,
        decide: Any = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.runtime = make_runtime(config, clock)
        kit = PilotKit(Path(config.factory.state_dir), placeholder_pilot(tmp_path))
        self.cycle, self.routes = build_cycle(
            self.runtime, pool=pool, kit=kit, tokens=token_writer(Path(config.factory.state_dir))
        )
        if decide is not None:
            self.cycle.decide = decide

    def close(self) -> None:
        self.runtime.state.close()


def _config(tmp_path: Path, entries: dict[str, Any], **factory: Any) -> Config:
    return make_config(
        tmp_path,
        entries,
        factory={"cycle": "5m", **factory},
        groups=[{"name": "main", "schedds": ["schedd1"], "match": MATCH}],
    )


async def test_hold_storm_backs_off_one_entry_others_served_and_it_survives_restart(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, {"A": idtoken_entry("SiteA"), "S": idtoken_entry("SiteS")})
    clock = ManualClock()
    pool = FakePool(_scenario(S=EntryBehaviour(queue_time=60, hold_rate=1.0)), clock=clock)
    factory = Factory(tmp_path, config, pool, clock)
    # storm, 5 min backoff, releases (counted as idle glideins) and a few more, storm again
    for _ in range(5):
        await factory.cycle.run_cycle()
        clock.advance(300)
    health = factory.cycle.health["S"]
    assert health.failures >= 2
    assert effective_state(config, health, "S", clock.now()) is HealthState.BACKOFF
    assert health.last_failure_reason == "hold_storm"
    assert effective_state(config, factory.cycle.health["A"], "A", clock.now()) is HealthState.OK
    submitted_a = metric(factory.runtime, "aglidein_submissions_total", entry="A", result="success")
    submitted_s = metric(factory.runtime, "aglidein_submissions_total", entry="S", result="success")
    await factory.cycle.run_cycle()
    assert metric(factory.runtime, "aglidein_submissions_total", entry="A", result="success") > 0
    assert submitted_a > 0
    assert (
        metric(factory.runtime, "aglidein_submissions_total", entry="S", result="success")
        == submitted_s
    )
    status = factory.runtime.status.as_json()
    (s_status,) = [e for e in status["entries"] if e["name"] == "S"]
    assert s_status["health"] == "backoff"
    assert s_status["backoff_until"] is not None
    assert "backoff" in s_status["decisions"][0]["limited_by"]
    assert metric(factory.runtime, "aglidein_entry_backoff_seconds", entry="S") > 0
    until = health.backoff_until
    factory.close()
    # a new daemon on the same state DB keeps the backoff
    restarted = Factory(tmp_path, config, pool, clock)
    await restarted.cycle.load()
    assert restarted.cycle.health["S"].backoff_until == until
    await restarted.cycle.run_cycle()
    assert restarted.runtime.status.entries["S"].health == "backoff"
    restarted.close()


async def test_restart_after_accepted_submit_submits_nothing_twice(tmp_path: Path) -> None:
    config = _config(tmp_path, {"A": idtoken_entry("SiteA")}, submit={"cluster_size": 10})
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock)
    wanted = 10

    def want_ten(config: Config, inputs: CycleInputs, now: float) -> Plan:
        have = sum(1 for g in inputs.census.glideins if g.entry == "A")
        submits = (SubmitRequest("A", "main", wanted - have),) if have < wanted else ()
        return Plan(cycle=inputs.cycle, now=now, submits=submits)

    hanging = AcceptsThenHangs(pool.schedd("local"))
    first = Factory(tmp_path, config, PoolWithSchedd(pool, hanging), clock, decide=want_ten)
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.cycle.run_cycle)
        await hanging.accepted.wait()
        tg.cancel_scope.cancel()  # the daemon dies before its bookkeeping
    assert len(await first.runtime.state.pending_batches()) == 1
    first.close()

    second = Factory(tmp_path, config, pool, clock, decide=want_ten)
    for _ in range(3):
        await second.cycle.run_cycle()
        clock.advance(300)
    ads = await pool.schedd("local").query('AglideinFactory == "test-factory"')
    assert len(ads) == wanted
    assert await second.runtime.state.pending_batches() == []
    second.close()


class RecordingSchedd(AcceptsThenHangs):
    """Passes everything through; records each submission with the entry's health then."""

    def __init__(self, inner: Any, clock: ManualClock) -> None:
        super().__init__(inner, hang=False)
        self.clock = clock
        self.cycle: CycleService | None = None
        self.config: Config | None = None
        self.violations: list[str] = []
        self.submitted: Counter[str] = Counter()

    async def submit(self, description: Any) -> Any:
        entry = dict(description.commands)["+AglideinEntry"].strip('"')
        assert self.cycle is not None
        assert self.config is not None
        state = effective_state(self.config, self.cycle.health.get(entry), entry, self.clock.now())
        if state is not HealthState.OK:
            self.violations.append(f"{entry} was {state.value}")
        self.submitted[entry] += description.count
        return await self.inner.submit(description)

    async def act(self, action: JobAction, job_ids: Sequence[str], *, reason: str = "") -> Any:
        if action is JobAction.RELEASE:
            ids = set(job_ids)
            ads = await self.inner.query("true", ["ClusterId", "ProcId", "NumSystemHolds"])
            for ad in ads:
                job_id = f"{ad['ClusterId']}.{ad['ProcId']}"
                if job_id in ids and int(ad.get("NumSystemHolds", 0)) > MAX_RELEASES:
                    self.violations.append(f"{job_id} released after {ad['NumSystemHolds']} holds")
        return await self.inner.act(action, job_ids, reason=reason)


async def test_a_day_of_cycles_keeps_limits_health_and_handles_holds(tmp_path: Path) -> None:
    entries = {
        "S": idtoken_entry("SiteS"),  # every glidein held: storms, backoffs, releases
        "A": idtoken_entry("SiteA", limits={"max_glideins": 40, "max_idle": 15}),
        "B": idtoken_entry("SiteB"),  # holds now and then: released, or removed
        "C": idtoken_entry("SiteC"),  # disabled by an operator at 6 h
        "D": idtoken_entry("SiteD"),  # drained at 12 h
        "E": idtoken_entry("SiteE", enabled=False),
    }
    config = _config(tmp_path, entries, limits={"max_glideins": 150, "max_idle": 60})
    clock = ManualClock()
    pool = FakePool(
        _scenario(
            B=EntryBehaviour(queue_time=120, hold_rate=0.3, run_time=3 * 3600),
            S=EntryBehaviour(queue_time=60, hold_rate=1.0),
        ),
        clock=clock,
    )
    recorder = RecordingSchedd(pool.schedd("local"), clock)
    factory = Factory(tmp_path, config, PoolWithSchedd(pool, recorder), clock)
    recorder.cycle, recorder.config = factory.cycle, config
    drained_at = 0.0
    seen_backoff: set[str] = set()
    for step in range(288):  # 24 h of 5-minute cycles
        if step == 72:
            await factory.cycle.set_operator("C", OperatorState.DISABLED)
        if step == 144:
            await factory.cycle.set_operator("D", OperatorState.DRAINING)
            drained_at = clock.now()
        await factory.cycle.run_cycle()
        ads = await pool.schedd("local").query("true", ["AglideinEntry", "JobStatus"])
        per_entry = Counter(str(a["AglideinEntry"]) for a in ads if a["JobStatus"] != 3)
        idle = Counter(str(a["AglideinEntry"]) for a in ads if a["JobStatus"] == 1)
        assert per_entry["A"] <= 40
        assert idle["A"] <= 15
        assert sum(per_entry.values()) <= 150
        assert sum(idle.values()) <= 60
        assert per_entry["E"] == 0
        if drained_at and clock.now() - drained_at >= 600:
            assert idle["D"] == 0
        seen_backoff |= {
            e
            for e, h in factory.cycle.health.items()
            if effective_state(config, h, e, clock.now()) is HealthState.BACKOFF
        }
        clock.advance(300)
    assert recorder.violations == []
    assert recorder.submitted["A"] > 0
    assert recorder.submitted["B"] > 0
    assert recorder.submitted["E"] == 0
    assert "S" in seen_backoff
    assert metric(factory.runtime, "aglidein_releases_total", entry="B", result="success") > 0
    assert metric(factory.runtime, "aglidein_releases_total", entry="S", result="success") > 0
    # a glidein held an 11th time is removed, never released (recorder.violations above);
    # the last cycle's fresh holds may still wait for their removal, but none goes further
    held = [
        g
        for g in (await factory.cycle.poller.poll(999))[1].glideins
        if g.state is GlideinState.HELD and g.num_system_holds > MAX_RELEASES + 1
    ]
    assert held == []
    assert metric(factory.runtime, "aglidein_glidein_exits_total", entry="A", reason="ok") > 0
    # the exits carry the group the glidein served (the roster knew every one)
    assert metric(
        factory.runtime, "aglidein_glidein_exits_total", group="main", entry="A", reason="ok"
    ) == metric(factory.runtime, "aglidein_glidein_exits_total", entry="A", reason="ok")
    factory.close()


def test_stored_health_reads_what_a_daemon_left(tmp_path: Path) -> None:
    from aglidein.core.model import EntryHealth
    from aglidein.services.cycle import stored_health

    assert stored_health(tmp_path) == {}

    async def save() -> None:
        state = StateDB.open(tmp_path / "state.db")
        await state.save_health(EntryHealth("A", backoff_until=123.0, failures=2))
        state.close()

    anyio.run(save)
    assert stored_health(tmp_path)["A"].backoff_until == 123.0


async def test_unreachable_factory_schedd_or_collector_freezes_every_action(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, {"A": idtoken_entry("SiteA")})
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock)
    factory = Factory(tmp_path, config, pool, clock)
    for _ in range(2):
        await factory.cycle.run_cycle()
        clock.advance(300)
    before = await pool.schedd("local").query("true", ["ClusterId", "ProcId"])
    assert before
    pool.sim.schedds["schedd1"].jobs.clear()  # zero demand ...
    pool.factory.down = True  # ... seen while the factory schedd is unreachable
    for _ in range(12):
        plan = await factory.cycle.run_cycle()
        assert plan.frozen
        clock.advance(300)
    pool.factory.down = False
    pool.collector().down = True  # type: ignore[attr-defined]
    plan = await factory.cycle.run_cycle()
    assert plan.frozen
    assert len(await pool.schedd("local").query()) == len(before)
    assert factory.runtime.status.as_json()["entries"][0]["health"] == "ok"
    factory.close()
