"""The same assertions against the simulated pool and the real one (tests/realpool).

The `real` parameter runs on the session's VO pool (HTCondor daemons, the htcondor2
bindings in worker processes) and carries the `pool` marker; without HTCondor it skips
(fails under AGLIDEIN_REQUIRE_POOL=1). Every job is tagged with a fresh id and queried by
it, so the shared queue does not matter.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aglidein.clock import ManualClock
from aglidein.condor.api import Collector, JobAction, Pool, Schedd, SubmitDescription
from aglidein.condor.bindings import BindingsPool
from aglidein.condor.fake import FakeCollector, FakePool, Scenario
from aglidein.errors import CondorError
from tests.adapter_helpers import make_config
from tests.realpool.pool import PoolInstance

IMPLEMENTATIONS = ["fake", pytest.param("real", marks=pytest.mark.pool)]
HELD, IDLE, REMOVED = 5, 1, 3


@dataclass
class Backend:
    """A pool implementation plus the few things only a test can do to it."""

    kind: str
    pool: Pool
    schedd: Schedd
    job_dir: Path
    add_glidein_slot: Callable[[str, str], Awaitable[None]]  # (AglideinId, AglideinEntry)
    silent_schedd: Callable[[], Schedd]  # a schedd that never answers
    silent_collector: Callable[[], Collector]  # a collector that never answers


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP listener that accepts (the kernel completes the handshake) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.fixture(params=IMPLEMENTATIONS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, silent_port: int
) -> AsyncIterator[Backend]:
    if request.param == "fake":
        fake = FakePool(Scenario(), clock=ManualClock())
        yield Backend(
            "fake",
            fake,
            fake.schedd("local"),
            tmp_path,
            lambda glidein, entry: _fake_slot(fake, glidein, entry),
            lambda: fake.schedd("never-heard-of"),
            lambda: _down_collector(fake),
        )
        await fake.aclose()
        return
    vo: PoolInstance = request.getfixturevalue("vo_env")
    pool = {
        "collector": vo.collector,
        "trust_domain": vo.trust_domain,
        "factory_schedd": vo.schedd_name,
    }
    deadlines = {"schedd_query": "3s", "collector_query": "3s", "submit": "60s", "act": "30s"}
    config = make_config(tmp_path, pool=pool, factory={"deadlines": deadlines})
    silent = {**pool, "collector": f"127.0.0.1:{silent_port}"}
    silent_config = make_config(tmp_path, pool=silent, factory={"deadlines": deadlines})
    real = BindingsPool(lambda: config)
    # by name, located in the worker at each call: a worker process started in this
    # fixture would belong to another event loop than the test's (pytest-asyncio)
    yield Backend(
        "real",
        real,
        real.schedd(vo.schedd_name),
        vo.job_dir,
        lambda glidein, entry: _advertise_slot(request, vo, glidein, entry),
        lambda: real.schedd(f"127.0.0.1:{silent_port}"),
        lambda: BindingsPool(lambda: silent_config).collector(),
    )
    await real.aclose()


def _down_collector(fake: FakePool) -> Collector:
    """The simulated collector, not answering (the fake's stand-in for a silent one)."""
    collector = fake.collector()
    assert isinstance(collector, FakeCollector)
    collector.down = True
    return collector


async def _fake_slot(fake: FakePool, glidein: str, entry: str) -> None:
    """A glidein of the simulated pool starts: its slots appear in the collector."""
    clock = fake.clock
    assert isinstance(clock, ManualClock)
    description = SubmitDescription(
        commands=(
            ("universe", "grid"),
            ("executable", "glidein_startup.sh"),
            ("+AglideinId", f'"{glidein}"'),
            ("+AglideinEntry", f'"{entry}"'),
        )
    )
    await fake.factory.submit(description)
    clock.advance(3600)


async def _advertise_slot(
    request: pytest.FixtureRequest, vo: PoolInstance, glidein: str, entry: str
) -> None:
    """A glidein startd's slot ad, as the pilot's startd sends it, in the VO collector."""
    name = f"slot1@glidein_{glidein}@{entry}"
    ad = "\n".join(
        [
            'MyType = "Machine"',
            f'Name = "{name}"',
            f'Machine = "glidein-{glidein}"',
            'MyAddress = "<127.0.0.1:9?sock=none>"',
            'State = "Unclaimed"',
            'Activity = "Idle"',
            "Cpus = 1",
            "Memory = 2048",
            "Start = true",
            'SlotType = "Static"',
            f'AglideinId = "{glidein}"',
            f'AglideinEntry = "{entry}"',
        ]
    )
    path = vo.job_dir / f"slot-{glidein}.ad"
    path.write_text(ad + "\n")
    vo.run("condor_advertise", "UPDATE_STARTD_AD", str(path))
    # the ad goes away again at the end of the test (the pool is shared by the session)
    gone = vo.job_dir / f"slot-{glidein}.invalidate"
    gone.write_text(f'MyType = "Query"\nTargetType = "Machine"\nRequirements = Name == "{name}"\n')
    request.addfinalizer(lambda: vo.run("condor_advertise", "INVALIDATE_STARTD_ADS", str(gone)))


def _cluster(tag: str, job_dir: Path, *, held: bool = True) -> SubmitDescription:
    commands = [
        ("universe", "vanilla"),
        ("executable", "/bin/true"),
        ("initialdir", str(job_dir)),
        ("requirements", "false"),  # never matches: idle jobs stay idle
        ("+AglideinFactory", f'"{tag}"'),
        ("+AglideinBatch", '"b-1"'),
        ("+AglideinId", '"$(AglideinId)"'),
        ("request_cpus", "$(Cpus)"),
    ]
    if held:
        commands.append(("hold", "true"))
    return SubmitDescription(
        commands=tuple(commands),
        queue_vars=("AglideinId", "Cpus"),
        itemdata=({"AglideinId": "g-1", "Cpus": "1"}, {"AglideinId": "g-2", "Cpus": "2"}),
    )


def _tag() -> str:
    return f"contract-{uuid.uuid4().hex[:8]}"


async def test_submit_with_batch_and_itemdata_then_query(backend: Backend) -> None:
    tag = _tag()
    constraint = f'AglideinFactory == "{tag}"'
    result = await backend.schedd.submit(_cluster(tag, backend.job_dir))
    assert result.count == 2
    assert result.first_proc == 0
    projection = ["ClusterId", "ProcId", "AglideinId", "AglideinBatch", "JobStatus"]
    ads = await backend.schedd.query(constraint, projection)
    assert sorted(str(a["AglideinId"]) for a in ads) == ["g-1", "g-2"]
    assert {a["ClusterId"] for a in ads} == {result.cluster}
    assert {a["AglideinBatch"] for a in ads} == {"b-1"}
    assert {a["JobStatus"] for a in ads} == {HELD}
    assert sorted(f"{a['ClusterId']}.{a['ProcId']}" for a in ads) == sorted(result.job_ids)
    for ad in ads:  # a projection returns those attributes, nothing else
        assert set(ad) == set(projection)
    one = await backend.schedd.query(f'{constraint} && AglideinId == "g-2"', ["RequestCpus"])
    assert one == [{"RequestCpus": 2}]
    assert len(await backend.schedd.query(constraint, ["ProcId"], limit=1)) == 1
    await backend.schedd.act(JobAction.REMOVE, list(result.job_ids))


async def test_autocluster_and_group_by_queries(backend: Backend) -> None:
    tag = _tag()
    constraint = f'AglideinFactory == "{tag}"'
    first = await backend.schedd.submit(_cluster(tag, backend.job_dir, held=False))
    second = await backend.schedd.submit(_cluster(tag, backend.job_dir, held=False))
    grouped = await backend.schedd.query_autoclusters(constraint, ["RequestCpus"])
    counts = sorted((int(str(a["RequestCpus"])), a["JobCount"]) for a in grouped)
    assert counts == [(1, 2), (2, 2)]
    (one,) = await backend.schedd.query_autoclusters(constraint, ["AglideinFactory"])
    assert one["JobCount"] == 4
    await backend.schedd.act(JobAction.REMOVE, [*first.job_ids, *second.job_ids])


async def test_hold_release_remove_and_forcex(backend: Backend) -> None:
    schedd, tag = backend.schedd, _tag()
    constraint = f'AglideinFactory == "{tag}"'
    result = await schedd.submit(_cluster(tag, backend.job_dir, held=False))
    jobs = list(result.job_ids)

    async def statuses() -> set[object]:
        return {a["JobStatus"] for a in await schedd.query(constraint, ["JobStatus"])}

    assert await statuses() == {IDLE}
    assert (await schedd.act(JobAction.RELEASE, jobs)).success == 0  # not held
    held = await schedd.act(JobAction.HOLD, jobs, reason="contract hold")
    assert held.success == 2
    assert await statuses() == {HELD}
    assert (await schedd.act(JobAction.HOLD, jobs)).success == 2  # already held: done
    assert (await schedd.act(JobAction.REMOVE_X, jobs)).success == 0  # not removed
    (reason,) = {a["HoldReason"] for a in await schedd.query(constraint, ["HoldReason"])}
    assert str(reason).startswith("contract hold (by user ")
    assert (await schedd.act(JobAction.RELEASE, jobs, reason="contract release")).success == 2
    assert await statuses() == {IDLE}
    assert await schedd.edit(jobs, "AglideinContract", "42") == 2
    assert len(await schedd.query(f"{constraint} && AglideinContract == 42")) == 2
    removed = await schedd.act(JobAction.REMOVE, jobs, reason="contract remove")
    assert removed.success == 2
    await schedd.act(JobAction.REMOVE_X, jobs)
    assert await schedd.query(f"{constraint} && JobStatus != {REMOVED}") == []


async def test_unknown_jobs_are_reported_not_found(backend: Backend) -> None:
    for action in (JobAction.RELEASE, JobAction.HOLD, JobAction.REMOVE):
        result = await backend.schedd.act(action, ["999999.0"])
        assert result.success == 0
        assert result.not_found + result.failure == 1


async def test_collector_finds_glidein_startds(backend: Backend) -> None:
    glidein = uuid.uuid4().hex[:8]
    await backend.add_glidein_slot(glidein, "SITE_A")
    collector = backend.pool.collector()
    (slot,) = await collector.query_startds(
        f'AglideinId == "{glidein}"', ["Name", "AglideinId", "AglideinEntry"]
    )
    assert slot["AglideinEntry"] == "SITE_A"
    assert str(slot["Name"]).startswith("slot1@")
    assert set(slot) == {"Name", "AglideinId", "AglideinEntry"}
    assert await collector.query_startds("false") == []
    schedds = await collector.locate_schedds()
    assert backend.schedd.name in {s.name for s in schedds} or backend.kind == "fake"


async def test_a_silent_schedd_fails_the_call_in_time(backend: Backend) -> None:
    started = time.monotonic()
    with pytest.raises(CondorError):
        await backend.silent_schedd().query("true", ["ClusterId"])
    assert time.monotonic() - started < 30  # a deadline of 3 s plus worker start-up


async def test_a_silent_collector_fails_the_call_in_time(backend: Backend) -> None:
    started = time.monotonic()
    with pytest.raises(CondorError):
        await backend.silent_collector().query_startds("true", ["Name"])
    with pytest.raises(CondorError):
        await backend.silent_collector().locate_schedds()
    assert time.monotonic() - started < 60  # two deadlines of 3 s plus worker start-up
