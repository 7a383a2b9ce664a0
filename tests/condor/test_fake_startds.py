"""The simulated pool's user side: user jobs queue, match free slots their Requirements
accept, run their time and go back to idle when their glidein goes away."""

from __future__ import annotations

from aglidein.condor.fake_schedd import JobStatus
from aglidein.condor.fake_startds import Slot, UserPool
from aglidein.condor.scenario import Arrival, JobSpec, Scenario, ScheddSpec


def _slot(glidein: str, site: str, retire_at: float = 1e12) -> Slot:
    return Slot(
        ad={
            "Name": f"slot1@{glidein}",
            "AglideinId": glidein,
            "Start": True,
            "GLIDEIN_Site": site,
            "GLIDEIN_ToRetire": retire_at,
        }
    )


def _pool(*jobs: JobSpec, arrivals: tuple[Arrival, ...] = ()) -> UserPool:
    scenario = Scenario(schedds=[ScheddSpec(name="s1", jobs=list(jobs), arrivals=list(arrivals))])
    return UserPool(scenario, 0.0, lambda: None)


def test_jobs_match_only_slots_their_requirements_accept() -> None:
    users = _pool(JobSpec(count=2, run_time=100, requirements='TARGET.GLIDEIN_Site == "B"'))
    users.slots["a"] = _slot("g1", "A")
    users.slots["b"] = _slot("g2", "B")
    users.match(10.0)
    jobs = users.schedds["s1"].jobs
    running = [j for j in jobs.values() if j.status == JobStatus.RUNNING]
    assert [j.ad["RemoteHost"] for j in running] == ["b"]
    assert users.slots["a"].job is None
    assert users.busy("g2")
    users.finish_jobs(110.0)
    assert len(jobs) == 1
    assert not users.busy("g2")


def test_a_job_goes_back_to_idle_when_its_glidein_goes() -> None:
    users = _pool(JobSpec(count=1))
    users.slots["a"] = _slot("g1", "A")
    users.match(5.0)
    users.drop_slots("g1", 20.0)
    (job,) = users.schedds["s1"].jobs.values()
    assert job.status == JobStatus.IDLE
    assert job.ad["EnteredCurrentStatus"] == 20
    assert "RemoteHost" not in job.ad
    assert users.slots == {}


def test_arrivals_queue_jobs_as_time_passes_and_retired_slots_take_none() -> None:
    users = _pool(arrivals=(Arrival(count=2, every=60),))
    users.arrivals(0.0)
    assert len(users.schedds["s1"].jobs) == 2
    users.arrivals(125.0)
    assert len(users.schedds["s1"].jobs) == 6
    users.slots["a"] = _slot("g1", "A", retire_at=100.0)
    assert users.retire(130.0) == {"g1"}
    users.match(130.0)
    assert users.slots["a"].job is None
