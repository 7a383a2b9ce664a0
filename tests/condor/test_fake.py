"""The simulated pool: HTCondor semantics where they matter, behaviour by scenario."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from aglidein.classad.facade import Expr
from aglidein.clock import ManualClock
from aglidein.condor import open_pool
from aglidein.condor.api import JobAction, Pool, SubmitDescription
from aglidein.condor.fake import FakePool, load_scenario
from aglidein.condor.userlog import read_new_job_ends
from aglidein.core.submit import GlideinFiles, PilotFiles, render_submit, userlog_name
from aglidein.errors import CondorError, ConfigError
from tests.adapter_helpers import ENTRY_KINDS, make_config

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "scenario_basic.yaml"
PILOT = PilotFiles(startup="/bin/true", tarball="/tmp/glidein-x.tar.gz", attrs_file="/tmp/attrs")
USERLOG = userlog_name("local", ("local",), date(2026, 12, 7))  # glideins-20261207.log


def _pool() -> tuple[FakePool, ManualClock]:
    clock = ManualClock()
    return FakePool(load_scenario(SCENARIO), clock=clock), clock


async def _submit(pool: FakePool, tmp_path: Path, entry: str, n: int, batch: str = "b1") -> None:
    config = make_config(tmp_path, {entry: ENTRY_KINDS["CE"]})
    glideins = [
        GlideinFiles(f"{entry}-{batch}-{i}", f"/t/{i}.idtoken", f"/t/{i}.logtoken")
        for i in range(n)
    ]
    description = render_submit(
        config,
        config.entry(entry),
        "main",
        batch,
        glideins,
        PILOT,
        "http://127.0.0.1:1/api/v1/logs",
        str(tmp_path / "glideins" / entry),
        userlog=USERLOG,
    )
    result = await pool.schedd("local").submit(
        SubmitDescription(description.commands, description.queue_vars, description.itemdata)
    )
    assert result.count == n


async def test_open_pool_picks_the_simulation_from_the_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, pool={"simulate": str(SCENARIO)})
    pool = open_pool(config, clock=ManualClock())
    assert isinstance(pool, FakePool)
    assert isinstance(pool, Pool)
    jobs = await pool.schedd("schedd1").query("JobStatus == 1", ["DESIRED_Sites"])
    assert len(jobs) == 35
    assert jobs[0] == {"DESIRED_Sites": "SiteA"}


def test_a_bad_scenario_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries: {X: {hold_rate: 2}}\n")
    with pytest.raises(ConfigError, match="hold_rate"):
        load_scenario(bad)


async def test_queries_evaluate_constraints_projections_and_limits() -> None:
    pool, _ = _pool()
    schedd = pool.schedd("schedd1")
    assert len(await schedd.query('RequestCpus == 1 && DESIRED_Sites == "SiteA"')) == 35
    assert await schedd.query('stringListMember("SiteB", DESIRED_Sites)') == []
    assert len(await schedd.query("true", ["ClusterId"], limit=4)) == 4
    clusters = await schedd.query_autoclusters("JobStatus == 1", ["DESIRED_Sites", "RequestCpus"])
    assert clusters == [
        {"DESIRED_Sites": "SiteA", "RequestCpus": 1, "JobCount": 35, "AutoClusterId": 0}
    ]
    with pytest.raises(CondorError):
        await schedd.query("this is not (an expression")


async def test_unknown_or_down_schedds_fail_like_unreachable_ones() -> None:
    pool, _ = _pool()
    with pytest.raises(CondorError):
        await pool.schedd("nowhere").query()
    pool.sim.schedds["schedd1"].down = True
    with pytest.raises(CondorError):
        await pool.schedd("schedd1").query()
    located = await pool.collector().locate_schedds(["schedd1"])
    assert located[0].name == "schedd1"
    pool.sim.schedds["schedd1"].down = False
    assert len(await pool.schedd(located[0]).query("true", ["ClusterId"])) == 35


async def test_glideins_queue_run_show_slots_take_jobs_and_complete(tmp_path: Path) -> None:
    pool, clock = _pool()
    await _submit(pool, tmp_path, "CE", 3)
    factory = pool.schedd("local")
    ads = await factory.query('AglideinFactory == "test-factory"')
    assert {a["JobStatus"] for a in ads} == {1}
    assert all(a["JobUniverse"] == 9 and str(a["GridResource"]).startswith("condor ") for a in ads)
    assert {a["AglideinBatch"] for a in ads} == {"b1"}
    assert sorted(str(a["ClusterId"]) + "." + str(a["ProcId"]) for a in ads) == [
        "1.0",
        "1.1",
        "1.2",
    ]
    clock.advance(5 * 60)
    running = await factory.query("JobStatus == 2", ["AglideinId", "JobCurrentStartDate"])
    assert len(running) == 3
    slots = await pool.collector().query_startds('AglideinEntry == "CE"')
    assert len(slots) == 3
    assert {s["AglideinFactory"] for s in slots} == {"test-factory"}
    clock.advance(60)
    slots = await pool.collector().query_startds('Activity == "Busy"', ["Name"])
    assert len(slots) == 3  # user jobs matched
    assert len(await pool.schedd("schedd1").query("JobStatus == 2")) == 3
    clock.advance(3 * 3600)
    assert await factory.query() == []  # completed glideins leave the queue
    ends, _ = read_new_job_ends(tmp_path / "glideins" / "CE" / USERLOG, 0)
    assert [e.exit_code for e in ends] == [0, 0, 0]


async def test_hold_release_remove_and_forcex_semantics(tmp_path: Path) -> None:
    pool, clock = _pool()
    await _submit(pool, tmp_path, "STORM", 2)
    factory = pool.schedd("local")
    clock.advance(120)
    held = await factory.query("JobStatus == 5")
    assert len(held) == 2
    assert held[0]["HoldReasonCode"] == 0
    assert held[0]["NumSystemHolds"] == 1
    result = await factory.act(JobAction.RELEASE, ["1.0", "1.1", "9.9"])
    assert (result.success, result.not_found) == (2, 1)
    assert (await factory.act(JobAction.RELEASE, ["1.0"])).failure == 1  # not held any more
    clock.advance(120)
    again = await factory.query("JobStatus == 5", ["NumSystemHolds"])
    assert [a["NumSystemHolds"] for a in again] == [2, 2]
    pool.sim.stuck_removals.add("STORM")
    assert (await factory.act(JobAction.REMOVE_X, ["1.0"])).failure == 1  # not removed yet
    assert (await factory.act(JobAction.REMOVE, ["1.0", "1.1"])).success == 2
    clock.advance(60)
    assert len(await factory.query("JobStatus == 3")) == 2  # the CE never confirms
    assert (await factory.act(JobAction.REMOVE_X, ["1.0", "1.1"])).success == 2
    assert await factory.query() == []
    assert await factory.edit(["1.0"], "Foo", "1") == 0


async def test_entry_behaviours(tmp_path: Path) -> None:
    pool, clock = _pool()
    for entry in ("BROKEN", "HOLE", "SILENT", "FLAKY"):
        await _submit(pool, tmp_path, entry, 1, batch=entry)
    with pytest.raises(CondorError, match="refused"):
        await _submit(pool, tmp_path, "REFUSING", 1)
    clock.advance(150)
    factory = pool.schedd("local")
    status = {str(a["AglideinEntry"]): a["JobStatus"] for a in await factory.query()}
    assert status == {"HOLE": 2, "SILENT": 2, "FLAKY": 5}  # BROKEN failed within 60 s
    slots = {str(s["AglideinEntry"]): s for s in await pool.collector().query_startds()}
    assert set(slots) == {"HOLE"}
    assert slots["HOLE"]["Start"] is False
    clock.advance(3600)
    left = {str(a["AglideinEntry"]) for a in await factory.query()}
    assert "BROKEN" not in left
    assert "HOLE" not in left
    codes = {
        entry: [
            e.exit_code for e in read_new_job_ends(tmp_path / "glideins" / entry / USERLOG, 0)[0]
        ]
        for entry in ("BROKEN", "HOLE")
    }
    assert codes == {"BROKEN": [10], "HOLE": [12]}


async def test_edit_sets_classad_values(tmp_path: Path) -> None:
    pool, _ = _pool()
    await _submit(pool, tmp_path, "CE", 1)
    factory = pool.schedd("local")
    assert await factory.edit(["1.0"], "Foo", '"bar"') == 1
    assert await factory.edit(["1.0"], "Bar", 'Foo =?= "bar"') == 1
    (ad,) = await factory.query('Foo == "bar"', ["Foo", "Bar"])
    assert ad["Foo"] == "bar"
    assert isinstance(ad["Bar"], Expr)


def test_scaled_clock_runs_faster_than_its_base() -> None:
    from aglidein.condor.fake import ScaledClock

    base = ManualClock()
    clock = ScaledClock(60, base)
    start = clock.now()
    base.advance(10)
    assert clock.now() - start == 600
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(0)


async def test_user_jobs_run_only_on_slots_their_requirements_accept(tmp_path: Path) -> None:
    """Slots advertise their glidein's entry attrs (from its attrs file); a user job runs
    on a slot only where its Requirements are true, as in HTCondor's matchmaking."""
    from aglidein.condor.scenario import Scenario

    scenario = Scenario.model_validate(
        {
            "job_requirements": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
            "schedds": [
                {"name": "schedd1", "jobs": [{"count": 10, "attrs": {"DESIRED_Sites": "SiteA"}}]}
            ],
            "entries": {"default": {"queue_time": 60, "run_time": 7200}},
        }
    )
    clock = ManualClock()
    pool = FakePool(scenario, clock=clock)
    config = make_config(tmp_path, {"A": ENTRY_KINDS["CE"], "B": ENTRY_KINDS["CE"]})
    for entry, site in (("A", "SiteA"), ("B", "SiteB")):
        attrs = tmp_path / f"{entry}.attrs"
        attrs.write_text(f"GLIDEIN_Site='{site}'\nGLIDEIN_CPUS='1'\n")
        files = PilotFiles(startup="/bin/true", tarball="/tmp/g.tar.gz", attrs_file=str(attrs))
        glideins = [GlideinFiles(f"{entry}-{i}", f"/t/{i}.id", f"/t/{i}.log") for i in range(2)]
        description = render_submit(
            config,
            config.entry(entry),
            "main",
            entry,
            glideins,
            files,
            "http://127.0.0.1:1/x",
            str(tmp_path / "glideins" / entry),
        )
        await pool.schedd("local").submit(
            SubmitDescription(description.commands, description.queue_vars, description.itemdata)
        )
    clock.advance(5 * 60)  # glideins start; then user jobs match
    clock.advance(60)
    slots = await pool.collector().query_startds(
        "true", ["AglideinEntry", "Activity", "GLIDEIN_Site"]
    )
    by_entry = {(s["AglideinEntry"], s["Activity"]) for s in slots}
    assert by_entry == {("A", "Busy"), ("B", "Idle")}
    assert {s["GLIDEIN_Site"] for s in slots} == {"SiteA", "SiteB"}
    assert len(await pool.schedd("schedd1").query("JobStatus == 2")) == 2
    await pool.aclose()


async def test_several_factory_schedds_each_have_their_own_queue(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, pool={"simulate": str(SCENARIO), "factory_schedds": ["fs1", "fs2"]}
    )
    pool = open_pool(config, clock=ManualClock())
    assert isinstance(pool, FakePool)
    assert list(pool.factories) == ["fs1", "fs2"]
    assert pool.schedd("local") is pool.factories["fs1"]
    located = {loc.name for loc in await pool.collector().locate_schedds()}
    assert {"fs1", "fs2"} <= located
    description = SubmitDescription(
        (("executable", "/bin/true"),), ("AglideinId",), ({"AglideinId": "a"},)
    )
    for name in ("fs1", "fs2"):
        result = await pool.schedd(name).submit(description)
        assert result.cluster == 1  # each numbers its own clusters
    done = await pool.schedd("fs2").act(JobAction.REMOVE, ["1.0"])
    assert done.success == 1
    fs1 = await pool.schedd("fs1").query("true", ["JobStatus"])
    fs2 = await pool.schedd("fs2").query("true", ["JobStatus"])
    assert (fs1, fs2) == ([{"JobStatus": 1}], [{"JobStatus": 3}])
    pool.factories["fs2"].down = True
    with pytest.raises(CondorError):
        await pool.schedd("fs2").query("true")
    assert len(await pool.schedd("fs1").query("true")) == 1
    await pool.aclose()
