"""The fake pool's schedd (aglidein.condor.fake_schedd): constraint queries and
projections through classad2, autoclusters, submit numbering through the submit hook,
act counts through the action hook, edit literals, and a down schedd failing every call."""

from __future__ import annotations

import pytest

from aglidein.condor.api import ActResult, JobAction, Schedd, SubmitDescription, SubmitResult
from aglidein.condor.fake_schedd import FakeJob, FakeSchedd, JobStatus
from aglidein.errors import CondorError


def job_ad(owner: str, cpus: int, status: int = JobStatus.IDLE, **extra: object) -> FakeJob:
    return FakeJob({"Owner": owner, "RequestCpus": cpus, "JobStatus": status, **extra})


def submit_rows(schedd: FakeSchedd, description: SubmitDescription) -> list[FakeJob]:
    commands = description.as_dict()
    return [
        FakeJob({"Owner": commands["owner"], "Item": row["x"], "JobStatus": JobStatus.IDLE})
        for row in description.itemdata
    ]


def description(*items: str) -> SubmitDescription:
    return SubmitDescription(
        commands=(("owner", "alice"),), queue_vars=("x",), itemdata=tuple({"x": i} for i in items)
    )


def make_schedd() -> FakeSchedd:
    return FakeSchedd("s1", on_submit=submit_rows)


async def test_submit_numbers_clusters_and_procs() -> None:
    schedd = make_schedd()
    assert isinstance(schedd, Schedd)
    first = await schedd.submit(description("a", "b", "c"))
    second = await schedd.submit(description("d"))
    assert first == SubmitResult(cluster=1, first_proc=0, count=3)
    assert second.job_ids == ("2.0",)
    assert sorted(schedd.jobs) == ["1.0", "1.1", "1.2", "2.0"]
    job = schedd.jobs["1.2"]
    assert job.job_id == "1.2"
    assert job.ad["Item"] == "c"
    assert job.ad["GlobalJobId"] == "s1#1.2"


async def test_submit_without_a_hook_is_refused() -> None:
    schedd = FakeSchedd("plain")
    with pytest.raises(CondorError, match="submission not allowed"):
        await schedd.submit(description("a"))
    assert schedd.next_cluster == 1


async def test_query_constraint_projection_and_limit() -> None:
    schedd = FakeSchedd("s1")
    schedd.jobs = {
        "1.0": job_ad("alice", 1, ClusterId=1, ProcId=0),
        "1.1": job_ad("alice", 8, ClusterId=1, ProcId=1),
        "2.0": job_ad("bob", 4, JobStatus.RUNNING, ClusterId=2, ProcId=0),
    }
    ads = await schedd.query('owner == "ALICE"', ["requestcpus", "ProcId", "Missing"])
    assert ads == [{"RequestCpus": 1, "ProcId": 0}, {"RequestCpus": 8, "ProcId": 1}]
    assert len(await schedd.query("RequestCpus >= 4")) == 2
    assert await schedd.query("true", ["ClusterId"], limit=1) == [{"ClusterId": 1}]
    assert await schedd.query("NoSuchAttr > 1") == []  # undefined is not true
    full = await schedd.query("JobStatus == 2")
    assert full == [dict(schedd.jobs["2.0"].ad)]
    assert [j.job_id for j in schedd.matching("")] == ["1.0", "1.1", "2.0"]
    with pytest.raises(CondorError, match="invalid constraint"):
        await schedd.query("((")


async def test_autoclusters_group_alike_jobs() -> None:
    schedd = FakeSchedd("s1")
    schedd.jobs = {
        "1.0": job_ad("alice", 1, ClusterId=1, ProcId=0, QDate=1),
        "1.1": job_ad("alice", 1, ClusterId=1, ProcId=1, QDate=2),
        "2.0": job_ad("alice", 2, ClusterId=2, ProcId=0, QDate=3),
        "3.0": job_ad("bob", 1, JobStatus.RUNNING, ClusterId=3, ProcId=0),
    }
    by_cpus = await schedd.query_autoclusters('Owner == "alice"', ["RequestCpus"])
    assert by_cpus == [
        {"RequestCpus": 1, "JobCount": 2, "AutoClusterId": 0},
        {"RequestCpus": 2, "JobCount": 1, "AutoClusterId": 1},
    ]
    significant = await schedd.query_autoclusters()
    # identity attributes (ids, QDate, JobStatus) do not split clusters
    assert [(a["Owner"], a["RequestCpus"], a["JobCount"]) for a in significant] == [
        ("alice", 1, 2),
        ("alice", 2, 1),
        ("bob", 1, 1),
    ]
    assert all("ClusterId" not in a and "JobStatus" not in a for a in significant)


async def test_act_counts_what_the_hook_does() -> None:
    seen: list[tuple[str, JobAction, str]] = []

    def on_action(schedd: FakeSchedd, job: FakeJob, action: JobAction, reason: str) -> bool:
        seen.append((job.job_id, action, reason))
        if job.status == JobStatus.HELD:
            return False
        job.ad["JobStatus"] = JobStatus.HELD
        return True

    schedd = FakeSchedd("s1", on_action=on_action)
    schedd.jobs = {
        "1.0": job_ad("a", 1, ClusterId=1, ProcId=0),
        "1.1": job_ad("a", 1, JobStatus.HELD, ClusterId=1, ProcId=1),
    }
    result = await schedd.act(JobAction.HOLD, ["1.0", "1.1", "9.9"], reason="why")
    assert result == ActResult(success=1, failure=1, not_found=1)
    assert seen == [("1.0", JobAction.HOLD, "why"), ("1.1", JobAction.HOLD, "why")]
    assert schedd.jobs["1.0"].status == JobStatus.HELD
    no_hook = FakeSchedd("s2")
    no_hook.jobs = {"1.0": job_ad("a", 1, ClusterId=1, ProcId=0)}
    assert await no_hook.act(JobAction.REMOVE, ["1.0"]) == ActResult(0, 1, 0)


async def test_edit_sets_literals_and_expressions() -> None:
    schedd = FakeSchedd("s1")
    schedd.jobs = {"1.0": job_ad("a", 1, ClusterId=1, ProcId=0)}
    assert await schedd.edit(["1.0", "7.0"], "Prio", "5") == 1
    assert await schedd.edit(["1.0"], "Note", '"hi"') == 1
    assert await schedd.edit(["1.0"], "Flag", "true") == 1
    assert await schedd.edit(["1.0"], "Rate", "2.5") == 1
    assert await schedd.edit(["1.0"], "Expr", "RequestCpus * 2") == 1
    ad = schedd.jobs["1.0"].ad
    assert (ad["Prio"], ad["Note"], ad["Flag"], ad["Rate"]) == (5, "hi", True, 2.5)
    assert str(ad["Expr"]) == "RequestCpus * 2"
    with pytest.raises(CondorError, match="edit Bad"):
        await schedd.edit(["1.0"], "Bad", "((")


async def test_status_defaults_to_idle() -> None:
    assert FakeJob({"ClusterId": 1, "ProcId": 0}).status == JobStatus.IDLE
    assert FakeJob({"JobStatus": "2"}).status == JobStatus.IDLE
    assert FakeJob({"JobStatus": 5}).status == JobStatus.HELD


async def test_down_schedd_fails_every_call_and_step_runs_per_call() -> None:
    steps: list[int] = []
    schedd = FakeSchedd("s1", step=lambda: steps.append(1), on_submit=submit_rows)
    await schedd.query()
    await schedd.submit(description("a"))
    assert len(steps) == 2
    schedd.matching()
    assert len(steps) == 2  # matching() takes no step
    schedd.down = True
    with pytest.raises(CondorError, match="connection refused"):
        await schedd.query()
    with pytest.raises(CondorError):
        await schedd.query_autoclusters()
    with pytest.raises(CondorError):
        await schedd.submit(description("b"))
    with pytest.raises(CondorError):
        await schedd.act(JobAction.REMOVE, ["1.0"])
    with pytest.raises(CondorError):
        await schedd.edit(["1.0"], "A", "1")
    assert len(steps) == 2
    assert len(schedd.jobs) == 1
