"""Several factory schedds (`pool.factory_schedds`) on the simulated pool, whole cycles:
glideins spread across them, each polled and counted, a failed one frozen but counted,
batches recovered on the schedd they went to."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from aglidein.clock import ManualClock
from aglidein.condor.fake import FakePool
from aglidein.condor.scenario import EntryBehaviour
from aglidein.config import Config
from aglidein.core.model import Plan, SubmitRequest
from aglidein.statuscheck import CheckState, check_status, pool_rows
from tests.adapter_helpers import idtoken_entry, make_config, metric
from tests.services.test_cycle import MATCH, Factory, _scenario
from tests.services.test_provisioner import AcceptsThenHangs

SCHEDDS = ["fs1", "fs2"]


def _config(tmp_path: Path, **limits: int) -> Config:
    return make_config(
        tmp_path,
        {
            "A": idtoken_entry("SiteA", **({"limits": limits} if limits else {})),
            "B": idtoken_entry("SiteB"),
        },
        factory={"cycle": "5m", "submit": {"cluster_size": 5, "max_per_cycle": 20}},
        pool={"factory_schedds": SCHEDDS},
        groups=[{"name": "main", "schedds": ["schedd1"], "match": MATCH}],
    )


def _on_queue(pool: FakePool) -> dict[str, Counter[str]]:
    """schedd -> entry -> glideins of this factory on its queue."""
    return {
        name: Counter(str(job.ad["AglideinEntry"]) for job in schedd.jobs.values())
        for name, schedd in pool.factories.items()
    }


async def test_glideins_are_spread_and_every_factory_schedd_is_polled_and_counted(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock, factory_schedds=SCHEDDS)
    factory = Factory(tmp_path, config, pool, clock)
    try:
        for _ in range(4):
            await factory.cycle.run_cycle()
            clock.advance(300)
        queues = _on_queue(pool)
        for entry in "AB":
            counts = [queues[name][entry] for name in SCHEDDS]
            assert min(counts) > 0
            assert max(counts) - min(counts) <= 5  # one cluster apart at most
        # each schedd numbers its own clusters: the same job ids on both
        ids = {name: set(s.jobs) for name, s in pool.factories.items()}
        assert ids["fs1"] & ids["fs2"]
        _, census = await factory.cycle.poller.poll(99)
        assert Counter(g.schedd for g in census.glideins) == {
            name: len(schedd.jobs) for name, schedd in pool.factories.items()
        }
        for name in SCHEDDS:
            on_queue = len(pool.factories[name].jobs)
            assert (
                metric(factory.runtime, "aglidein_factory_schedd_glideins", schedd=name) == on_queue
            )
            assert metric(factory.runtime, "aglidein_factory_schedd_up", schedd=name) == 1
        await factory.cycle.run_cycle()
        status = factory.runtime.status.as_json()
        # the roster tells the glideins of both schedds apart, job ids repeating
        listed = {(g.schedd, g.job_id) for g in factory.runtime.roster.glideins()}
        assert {s for s, _ in listed} == set(SCHEDDS)
        assert len(listed) == len(factory.runtime.roster.glideins())
        rows = pool_rows(status)
        assert [(r["source"], r["name"], r["ok"]) for r in rows] == [
            ("collector", "cm.example.org:9618", True),
            ("factory schedd", "fs1", True),
            ("factory schedd", "fs2", True),
        ]
    finally:
        factory.close()


async def test_a_failed_factory_schedd_is_frozen_and_its_glideins_still_count(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, max_glideins=20, max_idle=20)
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock, factory_schedds=SCHEDDS)
    factory = Factory(tmp_path, config, pool, clock)
    try:
        for _ in range(3):
            await factory.cycle.run_cycle()
            clock.advance(300)
        before = _on_queue(pool)
        assert before["fs1"]["A"] + before["fs2"]["A"] == 20  # at the entry's limit
        fs2_jobs = dict(pool.factories["fs2"].jobs)
        pool.factories["fs2"].down = True
        removed = 0
        for job in list(pool.factories["fs1"].jobs.values()):  # room appears on fs1 only
            if job.ad["AglideinEntry"] == "A" and removed < 5:
                del pool.factories["fs1"].jobs[job.job_id]
                removed += 1
        for _ in range(3):
            plan = await factory.cycle.run_cycle()
            assert not plan.frozen
            after = _on_queue(pool)
            # fs2's last known glideins (those submitted after its last answer included)
            # still count against A's limit; nothing is sent to it
            assert after["fs1"]["A"] + before["fs2"]["A"] <= 20
            assert pool.factories["fs2"].jobs == fs2_jobs
            clock.advance(300)
        assert after["fs1"]["B"] > before["fs1"]["B"]  # B's share of fs2 went to fs1
        status = factory.runtime.status.as_json()
        assert status["pool"]["factory_schedd:fs2"]["ok"] is False
        assert status["pool"]["factory_schedd"]["ok"] is True
        assert metric(factory.runtime, "aglidein_factory_schedd_up", schedd="fs2") == 0
        check = check_status(status, clock.now())
        assert check.state is CheckState.CRITICAL
        assert "factory schedd fs2 unreachable" in check.line
        # no demand now: excess glideins are removed from fs1, fs2's are left alone
        pool.sim.schedds["schedd1"].jobs.clear()
        for _ in range(3):
            clock.advance(300)
            await factory.cycle.run_cycle()
        assert pool.factories["fs2"].jobs.keys() == fs2_jobs.keys()
        pool.factories["fs2"].down = False
        clock.advance(300)
        await factory.cycle.run_cycle()
        assert factory.runtime.status.as_json()["pool"]["factory_schedd:fs2"]["ok"] is True
    finally:
        factory.close()


async def test_a_schedd_never_heard_from_freezes_everything(tmp_path: Path) -> None:
    config = _config(tmp_path)
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock, factory_schedds=SCHEDDS)
    pool.factories["fs2"].down = True
    factory = Factory(tmp_path, config, pool, clock)
    try:
        plan = await factory.cycle.run_cycle()
        assert plan.frozen  # its glideins are unknown: submitting could go past a limit
        assert all(not s.jobs for s in pool.factories.values())
    finally:
        factory.close()


class _PoolWith:
    """The simulated pool with one factory schedd replaced."""

    def __init__(self, pool: FakePool, name: str, schedd: Any) -> None:
        self.pool, self.name, self.replacement = pool, name, schedd

    def collector(self) -> Any:
        return self.pool.collector()

    def schedd(self, location: Any) -> Any:
        return self.replacement if location == self.name else self.pool.schedd(location)

    async def aclose(self) -> None:
        await self.pool.aclose()


async def test_a_batch_left_pending_is_looked_up_on_its_own_schedd_after_a_crash(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock, factory_schedds=SCHEDDS)
    flaky = AcceptsThenHangs(pool.schedd("fs2"), hang=False)
    crashed = Factory(tmp_path, config, _PoolWith(pool, "fs2", flaky), clock)
    cycle = crashed.cycle
    await cycle.provisioner.prepare()
    plan = Plan(cycle=1, now=clock.now(), submits=(SubmitRequest("A", "main", 5),))
    _, census = await cycle.poller.poll(1)
    assert (await cycle.provisioner.act(plan, {}, census))["A"].submitted == 5  # to fs1
    _, census = await cycle.poller.poll(2)
    outcomes = await cycle.provisioner.act(plan, {}, census)  # to fs2: it times out
    assert outcomes["A"].submit_error is not None
    (pending,) = await crashed.runtime.state.pending_batches()
    assert pending["schedd"] == "fs2"
    crashed.close()
    # a restart: the batch is looked up on fs2 (job ids repeat on fs1: cluster 1 too)
    restarted = Factory(tmp_path, config, pool, clock)
    try:
        assert await restarted.cycle.provisioner.recover()
        assert await restarted.runtime.state.pending_batches() == []
        batches = {
            n: {j.ad["AglideinBatch"] for j in s.jobs.values()} for n, s in pool.factories.items()
        }
        assert batches["fs2"] == {pending["batch"]}
        assert pending["batch"] not in batches["fs1"]
        assert set(pool.factories["fs1"].jobs) == set(pool.factories["fs2"].jobs)  # 1.0 .. 1.4
        # the next cycle sends nothing twice: both schedds hold one cluster of A each
        await restarted.cycle.run_cycle()
        assert all(
            len({j.ad["AglideinBatch"] for j in s.jobs.values()}) >= 1
            for s in pool.factories.values()
        )
        assert (
            sum(
                1
                for j in pool.factories["fs2"].jobs.values()
                if j.ad["AglideinBatch"] == pending["batch"]
            )
            == 5
        )
    finally:
        restarted.close()


class _Refuses(AcceptsThenHangs):
    """A factory schedd that answers queries and refuses every submission."""

    async def submit(self, description: Any) -> Any:
        from aglidein.errors import CondorError

        raise CondorError("submit: permission denied")


async def test_a_schedd_that_refuses_a_submission_gets_none_of_the_rest_this_cycle(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    clock = ManualClock()
    pool = FakePool(_scenario(), clock=clock, factory_schedds=SCHEDDS)
    factory = Factory(tmp_path, config, _PoolWith(pool, "fs1", _Refuses(pool.schedd("fs1"))), clock)
    try:
        cycle = factory.cycle
        await cycle.provisioner.prepare()
        _, census = await cycle.poller.poll(1)
        plan = Plan(cycle=1, now=clock.now(), submits=(SubmitRequest("A", "main", 15),))
        outcome = (await cycle.provisioner.act(plan, {}, census))["A"]
        # fs1 refused the first cluster: all three went to fs2, and A is not at fault
        assert (outcome.submitted, outcome.submit_error) == (15, None)
        assert len(pool.factories["fs2"].jobs) == 15
        assert not pool.factories["fs1"].jobs
        failed = metric(factory.runtime, "aglidein_submissions_total", entry="A", result="failure")
        assert failed == 5
    finally:
        factory.close()


async def test_an_entry_every_schedd_refuses_fails(tmp_path: Path) -> None:
    config = _config(tmp_path)
    clock = ManualClock()
    pool = FakePool(
        _scenario(A=EntryBehaviour(submit_failure_rate=1.0)), clock=clock, factory_schedds=SCHEDDS
    )
    factory = Factory(tmp_path, config, pool, clock)
    try:
        cycle = factory.cycle
        await cycle.provisioner.prepare()
        _, census = await cycle.poller.poll(1)
        plan = Plan(cycle=1, now=clock.now(), submits=(SubmitRequest("A", "main", 15),))
        outcome = (await cycle.provisioner.act(plan, {}, census))["A"]
        assert outcome.submitted == 0
        assert outcome.submit_error is not None
        assert "refused" in outcome.submit_error
        assert (
            metric(factory.runtime, "aglidein_submissions_total", entry="A", result="failure") == 10
        )
    finally:
        factory.close()
