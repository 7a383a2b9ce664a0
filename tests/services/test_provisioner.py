"""The provisioner against the simulated pool: clusters, batches, limits, health."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from aglidein.clock import ManualClock
from aglidein.condor.api import ActResult, JobAction, Schedd, SubmitDescription, SubmitResult
from aglidein.condor.fake import FakePool, Scenario
from aglidein.condor.scenario import EntryBehaviour
from aglidein.core.model import (
    EntryHealth,
    GlideinCensus,
    OperatorState,
    Plan,
    ReleaseRequest,
    RemoveRequest,
    SubmitRequest,
)
from aglidein.errors import CondorTimeout
from aglidein.services.cycle_setup import token_writer
from aglidein.services.exits import ExitWatcher
from aglidein.services.glidein_files import PilotKit
from aglidein.services.poller_ads import GLIDEIN_PROJECTION, glideins_from_ads
from aglidein.services.provisioner import Provisioner
from tests.adapter_helpers import (
    idtoken_entry,
    make_config,
    make_runtime,
    metric,
    placeholder_pilot,
)

ENTRIES = {
    "A": idtoken_entry("SiteA", limits={"max_glideins": 30, "max_idle": 25}),
    "B": idtoken_entry("SiteB"),
    "C": idtoken_entry("SiteC"),
}
SCENARIO = Scenario(
    entries={
        "default": EntryBehaviour(queue_time=120, run_time=3600, jitter=0),
        "BAD": EntryBehaviour(submit_failure_rate=1.0),
    }
)


class World:
    """A factory on a simulated pool: config, runtime, provisioner."""

    def __init__(self, tmp_path: Path, *, factory: dict[str, Any] | None = None) -> None:
        entries = {**ENTRIES, "BAD": idtoken_entry("SiteBad")}
        self.config = make_config(
            tmp_path,
            entries,
            factory={"submit": {"cluster_size": 4, "max_per_cycle": 10}, **(factory or {})},
        )
        self.clock = ManualClock()
        self.pool = FakePool(SCENARIO, clock=self.clock)
        self.runtime = make_runtime(self.config, self.clock)
        self.kit = PilotKit(Path(self.config.factory.state_dir), placeholder_pilot(tmp_path))
        self.provisioner = self.new_provisioner()

    def new_provisioner(self, pool: Any = None) -> Provisioner:
        return Provisioner(
            lambda: self.config,
            pool or self.pool,
            self.runtime.state,
            self.runtime.metrics,
            self.clock,
            self.kit,
            token_writer(Path(self.config.factory.state_dir)),
        )

    async def census(self) -> GlideinCensus:
        ads = await self.pool.schedd("local").query(
            'AglideinFactory == "test-factory"', GLIDEIN_PROJECTION
        )
        return GlideinCensus(glideins=glideins_from_ads(ads, "test-factory"))

    def plan(self, *submits: SubmitRequest, **kwargs: Any) -> Plan:
        return Plan(cycle=1, now=self.clock.now(), submits=submits, **kwargs)


async def test_submits_in_clusters_with_batches_and_private_token_files(tmp_path: Path) -> None:
    world = World(tmp_path)
    outcomes = await world.provisioner.act(
        world.plan(SubmitRequest("B", "main", 10)), {}, await world.census()
    )
    assert outcomes["B"].submitted == 10
    ads = await world.pool.schedd("local").query("true")
    assert len(ads) == 10
    clusters: dict[Any, set[Any]] = {}
    for ad in ads:
        clusters.setdefault(ad["ClusterId"], set()).add(ad["AglideinBatch"])
    assert sorted(len(v) for v in clusters.values()) == [1, 1, 1]  # one batch per cluster
    assert sorted(sum(1 for a in ads if a["ClusterId"] == c) for c in clusters) == [2, 4, 4]
    assert await world.runtime.state.pending_batches() == []
    tokens = Path(world.config.factory.state_dir) / "glideins" / "B" / "tokens"
    for ad in ads:
        for suffix in (".idtoken", ".logtoken"):
            path = tokens / f"{ad['AglideinId']}{suffix}"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            secret = path.read_text().strip()
            assert secret not in repr(ad)  # never in the job ad or its environment
    assert metric(world.runtime, "aglidein_submissions_total", entry="B", result="success") == 10


async def test_no_submission_to_unhealthy_entries_whatever_the_plan(tmp_path: Path) -> None:
    world = World(tmp_path)
    now = world.clock.now()
    health = {
        "A": EntryHealth("A", backoff_until=now + 600, failures=1),
        "B": EntryHealth("B", operator=OperatorState.DISABLED),
        "C": EntryHealth("C", operator=OperatorState.DRAINING),
    }
    plan = world.plan(*(SubmitRequest(e, "main", 5) for e in "ABC"))
    outcomes = await world.provisioner.act(plan, health, await world.census())
    assert await world.pool.schedd("local").query() == []
    assert {e: o.skipped for e, o in outcomes.items()} == {
        "A": ["backoff"],
        "B": ["disabled"],
        "C": ["draining"],
    }


async def test_limits_cap_an_overeager_plan(tmp_path: Path) -> None:
    world = World(tmp_path, factory={"limits": {"max_glideins": 24}})
    for _ in range(4):
        plan = world.plan(SubmitRequest("A", "main", 500), SubmitRequest("B", "main", 500))
        await world.provisioner.act(plan, {}, await world.census())
        census = await world.census()
        per_entry = {e: sum(1 for g in census.glideins if g.entry == e) for e in "AB"}
        assert per_entry["A"] <= 10 * 4
        assert sum(per_entry.values()) <= 24
    assert sum(per_entry.values()) == 24  # the factory limit, reached, not passed
    assert per_entry["A"] <= 25  # entry A's max_idle


async def test_frozen_plan_does_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    plan = world.plan(SubmitRequest("B", "main", 4), frozen=True)
    assert await world.provisioner.act(plan, {}, await world.census()) == {}
    assert await world.pool.schedd("local").query() == []


async def test_refused_submission_fails_the_batch_and_cleans_tokens(tmp_path: Path) -> None:
    world = World(tmp_path)
    outcomes = await world.provisioner.act(
        world.plan(SubmitRequest("BAD", "main", 8)), {}, await world.census()
    )
    assert outcomes["BAD"].submitted == 0
    assert "refused" in (outcomes["BAD"].submit_error or "")
    assert await world.runtime.state.pending_batches() == []
    assert (
        list((Path(world.config.factory.state_dir) / "glideins" / "BAD" / "tokens").iterdir()) == []
    )


class AcceptsThenHangs:
    """A factory schedd that takes the submission, then never answers (a crash window)."""

    def __init__(self, inner: Schedd, *, hang: bool = True) -> None:
        self.inner = inner
        self.hang = hang
        self.accepted = anyio.Event()

    @property
    def name(self) -> str:
        return self.inner.name

    async def query(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.query(*args, **kwargs)

    async def query_autoclusters(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.query_autoclusters(*args, **kwargs)

    async def submit(self, description: SubmitDescription) -> SubmitResult:
        await self.inner.submit(description)
        self.accepted.set()
        if self.hang:
            await anyio.sleep_forever()
        raise CondorTimeout("submit: no answer within 60s")

    async def act(
        self, action: JobAction, job_ids: Sequence[str], *, reason: str = ""
    ) -> ActResult:
        return await self.inner.act(action, job_ids, reason=reason)

    async def edit(self, job_ids: Sequence[str], attr: str, value: str) -> int:
        return await self.inner.edit(job_ids, attr, value)


class PoolWithSchedd:
    def __init__(self, pool: FakePool, schedd: Any) -> None:
        self.pool = pool
        self.factory = schedd

    def collector(self) -> Any:
        return self.pool.collector()

    def schedd(self, location: Any) -> Any:
        return self.factory if location == "local" else self.pool.schedd(location)

    async def aclose(self) -> None:
        await self.pool.aclose()


async def test_timed_out_submission_stays_pending_until_the_schedd_is_asked(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    flaky = AcceptsThenHangs(world.pool.schedd("local"), hang=False)
    provisioner = world.new_provisioner(PoolWithSchedd(world.pool, flaky))
    outcomes = await provisioner.act(
        world.plan(SubmitRequest("B", "main", 3)), {}, await world.census()
    )
    assert outcomes["B"].submit_error is not None
    (pending,) = await world.runtime.state.pending_batches()
    assert not provisioner.recovered
    # next cycle: the batch is found on the schedd before anything new is sent
    flaky.hang = False
    assert await provisioner.recover()
    assert await world.runtime.state.pending_batches() == []
    ads = await world.pool.schedd("local").query("true", ["AglideinBatch"])
    assert {a["AglideinBatch"] for a in ads} == {pending["batch"]}


async def test_releases_removals_and_forcex_reach_the_schedd(tmp_path: Path) -> None:
    world = World(tmp_path)
    await world.provisioner.act(world.plan(SubmitRequest("B", "main", 3)), {}, await world.census())
    schedd = world.pool.schedd("local")
    await schedd.act(JobAction.HOLD, ["1.0"])
    world.pool.sim.stuck_removals.add("B")
    plan = world.plan(
        releases=(ReleaseRequest("B", ("1.0",), "recoverable_hold"),),
        removals=(RemoveRequest("B", ("1.1",), "excess_idle"),),
    )
    outcomes = await world.provisioner.act(plan, {}, await world.census())
    assert (outcomes["B"].released, outcomes["B"].removed) == (1, 1)
    plan = world.plan(removals=(RemoveRequest("B", ("1.1",), "forcex", force=True),))
    await world.provisioner.act(plan, {}, await world.census())
    ids = sorted(f"{a['ClusterId']}.{a['ProcId']}" for a in await schedd.query())
    assert ids == ["1.0", "1.2"]
    assert metric(world.runtime, "aglidein_releases_total", entry="B", result="success") == 1
    assert (
        metric(
            world.runtime, "aglidein_removals_total", entry="B", reason="forcex", result="success"
        )
        == 1
    )


async def test_exits_are_counted_once_by_reason(tmp_path: Path) -> None:
    world = World(tmp_path)
    await world.provisioner.act(world.plan(SubmitRequest("B", "main", 3)), {}, await world.census())
    world.clock.advance(2 * 3600)
    await world.census()  # steps the simulation: all three completed
    watcher = ExitWatcher(
        Path(world.config.factory.state_dir) / "glideins",
        world.runtime.state,
        world.runtime.metrics,
    )
    assert await watcher.scan(["B"]) == {"B": {"ok": 3}}
    again = ExitWatcher(
        Path(world.config.factory.state_dir) / "glideins",
        world.runtime.state,
        world.runtime.metrics,
    )
    assert await again.scan(["B"]) == {}  # offsets survive a restart
    assert metric(world.runtime, "aglidein_glidein_exits_total", entry="B", reason="ok") == 3


async def test_each_utc_day_of_submission_has_its_user_log(tmp_path: Path) -> None:
    world = World(tmp_path)  # the clock starts at 2026-01-01 00:00 UTC
    await world.provisioner.act(world.plan(SubmitRequest("B", "main", 1)), {}, await world.census())
    world.clock.advance(24 * 3600 + 1800)
    await world.provisioner.act(world.plan(SubmitRequest("B", "main", 2)), {}, await world.census())
    world.clock.advance(2 * 3600)
    await world.census()  # steps the simulation: all three completed
    entry_dir = Path(world.config.factory.state_dir) / "glideins" / "B"
    assert sorted(p.name for p in entry_dir.glob("glideins*")) == [
        "glideins-20260101.log",
        "glideins-20260102.log",
    ]
    watcher = ExitWatcher(entry_dir.parent, world.runtime.state, world.runtime.metrics)
    assert await watcher.scan(["B"]) == {"B": {"ok": 3}}


async def test_removed_glideins_are_counted_as_removed(tmp_path: Path) -> None:
    # issue 13: the user log's `009 Job was aborted` was ignored, so a drain or an
    # excess-idle removal never showed in aglidein_glidein_exits_total.
    world = World(tmp_path)
    await world.provisioner.act(world.plan(SubmitRequest("B", "main", 2)), {}, await world.census())
    plan = world.plan(removals=(RemoveRequest("B", ("1.0",), "excess_idle"),))
    await world.provisioner.act(plan, {}, await world.census())
    await world.census()
    watcher = ExitWatcher(
        Path(world.config.factory.state_dir) / "glideins",
        world.runtime.state,
        world.runtime.metrics,
    )
    assert await watcher.scan(["B"]) == {"B": {"removed": 1}}
    assert metric(world.runtime, "aglidein_glidein_exits_total", entry="B", reason="removed") == 1


async def test_a_missing_pilot_fails_submissions_without_crashing(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.kit = PilotKit(Path(world.config.factory.state_dir), tmp_path / "no-pilot")
    provisioner = world.new_provisioner()
    await provisioner.prepare()
    outcomes = await provisioner.act(
        world.plan(SubmitRequest("B", "main", 2)), {}, await world.census()
    )
    assert "pilot is missing" in (outcomes["B"].submit_error or "")
    assert await world.pool.schedd("local").query() == []


async def test_local_glideins_really_run_the_pilot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # long enough that both are still running when asked, even on a loaded machine
    monkeypatch.setenv("PLACEHOLDER_SLEEP", "3")
    world = World(tmp_path)
    world.config = make_config(
        tmp_path,
        {"L": {"gridtype": "local", "attrs": {"GLIDEIN_Site": "Here"}}},
        factory={"glidein": {"max_walltime": "1h"}},
    )
    await world.provisioner.act(world.plan(SubmitRequest("L", "main", 2)), {}, await world.census())
    world.clock.advance(300)  # past the queue time: the processes start
    running = await world.pool.schedd("local").query("JobStatus == 2")
    assert len(running) == 2
    assert all(a["JobUniverse"] == 12 for a in running)
    for _ in range(300):  # the pilots end within seconds; each query polls them
        if not await world.pool.schedd("local").query():
            break
        await anyio.sleep(0.1)
    entry_dir = Path(world.config.factory.state_dir) / "glideins" / "L"
    outputs = sorted(entry_dir.glob("*.out"))
    assert len(outputs) == 2
    for output in outputs:
        text = output.read_text()
        assert f"--id {output.stem}" in text
        assert "--entry L" in text
        assert "condor=none" in text  # no-condor mode
        assert f"cwd={entry_dir}" in text  # runs in its entry directory, not ours
    watcher = ExitWatcher(entry_dir.parent, world.runtime.state, world.runtime.metrics)
    assert await watcher.scan(["L"]) == {"L": {"ok": 2}}
    await world.pool.aclose()


async def test_token_files_of_finished_glideins_are_deleted(tmp_path: Path) -> None:
    import os

    world = World(tmp_path)
    await world.provisioner.act(world.plan(SubmitRequest("B", "main", 2)), {}, await world.census())
    tokens = Path(world.config.factory.state_dir) / "glideins" / "B" / "tokens"
    assert len(list(tokens.iterdir())) == 4
    world.clock.advance(3 * 3600)  # both glideins ran and left the queue
    old = os.stat(next(tokens.iterdir())).st_mtime - 3600
    for path in tokens.iterdir():
        os.utime(path, (old, old))
    assert await world.provisioner.prune_tokens(await world.census()) == 4
    assert list(tokens.iterdir()) == []


async def test_local_glidein_runs_the_real_pilot_in_no_condor_mode(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from aglidein.services.glidein_files import default_pilot_source

    monkeypatch.setenv("GLIDEIN_WORKLOAD", "true")  # inherited by local-universe jobs
    world = World(tmp_path)
    world.config = make_config(
        tmp_path, {"L": {"gridtype": "local", "attrs": {"GLIDEIN_Site": "Here"}}}
    )
    world.kit = PilotKit(Path(world.config.factory.state_dir), default_pilot_source())
    world.provisioner = world.new_provisioner()
    await world.provisioner.act(world.plan(SubmitRequest("L", "main", 1)), {}, await world.census())
    world.clock.advance(300)
    for _ in range(600):
        if not await world.pool.schedd("local").query():
            break
        await anyio.sleep(0.1)
    entry_dir = Path(world.config.factory.state_dir) / "glideins" / "L"
    watcher = ExitWatcher(entry_dir.parent, world.runtime.state, world.runtime.metrics)
    assert await watcher.scan(["L"]) == {"L": {"ok": 1}}
    (output,) = entry_dir.glob("*.out")
    assert '"event":"glidein.end"' in output.read_text()
    await world.pool.aclose()


async def test_a_plan_past_a_group_limit_at_an_entry_is_cut(tmp_path: Path) -> None:
    world = World(tmp_path)
    entries = {
        **ENTRIES,
        "B": {**idtoken_entry("SiteB"), "group_limits": {"main": {"max_idle": 3}}},
    }
    world.config = make_config(
        tmp_path, entries, factory={"submit": {"cluster_size": 4, "max_per_cycle": 10}}
    )
    outcomes = await world.provisioner.act(
        world.plan(SubmitRequest("B", "main", 8)), {}, await world.census()
    )
    assert outcomes["B"].submitted == 3  # the same limits table as the policy
    assert outcomes["B"].skipped == ["limit"]


async def test_start_expr_travels_in_the_groups_attrs_file(tmp_path: Path) -> None:
    world = World(tmp_path)
    entries = {**ENTRIES, "B": {**idtoken_entry("SiteB"), "start_expr": "Cpus > 0"}}
    groups = [{"name": "main", "schedds": ["schedd1"], "match": "true", "start_expr": "Memory > 1"}]
    world.config = make_config(tmp_path, entries, groups=groups)
    outcomes = await world.provisioner.act(
        world.plan(SubmitRequest("B", "main", 1)), {}, await world.census()
    )
    assert outcomes["B"].submitted == 1
    attrs = Path(world.config.factory.state_dir) / "glideins" / "B" / "attrs.main"
    assert "GLIDEIN_START_EXPR='(Cpus > 0) && (Memory > 1)'" in attrs.read_text()
    (ad,) = await world.pool.schedd("local").query("true")
    assert "attrs.main" in str(ad.get("TransferInput"))


async def test_recovery_quotes_the_batch_names_in_its_constraint(tmp_path: Path) -> None:
    world = World(tmp_path)
    odd = 'batch "with" quotes \\ and a backslash'
    await world.runtime.state.record_batch(odd, "B", "main", 1, world.clock.now())
    # the constraint parses (an unquoted name broke it) and finds nothing: the batch failed
    assert await world.provisioner.recover()
    assert await world.runtime.state.pending_batches() == []
