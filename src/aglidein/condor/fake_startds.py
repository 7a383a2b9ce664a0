"""The user side of the simulated pool: the user-job schedds, the startd slots the
glideins bring, and the negotiator matching idle user jobs to free slots.

The glidein side (condor/fake_sim.py) adds and removes slots as glideins start and
end; this side queues user jobs (at the start and by arrival), runs them on matched
slots and finishes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aglidein.classad.facade import AdValue, Expr, ExprSyntaxError, is_true, parse_expr
from aglidein.condor.fake_schedd import FakeJob, FakeSchedd, JobStatus
from aglidein.condor.scenario import JobSpec, Scenario
from aglidein.errors import CondorError

__all__ = ["Slot", "UserPool"]


@dataclass
class Slot:
    """One startd slot of a running glidein."""

    ad: dict[str, AdValue]
    job: str | None = None  # "schedd/cluster.proc" of the user job it runs


class UserPool:
    """User jobs, slots and matching; `step` is the simulation's catch-up hook."""

    def __init__(self, scenario: Scenario, started: float, step: Callable[[], None]) -> None:
        self.scenario = scenario
        self.started = started
        self.schedds: dict[str, FakeSchedd] = {}
        self.slots: dict[str, Slot] = {}
        self._arrived: dict[tuple[str, int], int] = {}
        self._parsed: dict[str, Expr] = {}
        self._expr_refs: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._match_cache: dict[object, bool] = {}
        for spec in scenario.schedds:
            schedd = self.schedds[spec.name] = FakeSchedd(spec.name, step=step)
            for block in spec.jobs:
                self.add_jobs(schedd, block, block.count, started)

    # --- user jobs ----------------------------------------------------------------------

    def add_jobs(self, schedd: FakeSchedd, spec: JobSpec, count: int, now: float) -> None:
        """Queue `count` idle user jobs like `spec` on `schedd`."""
        if count <= 0:
            return
        cluster = schedd.next_cluster
        schedd.next_cluster += 1
        for proc in range(count):
            ad: dict[str, AdValue] = {
                "ClusterId": cluster,
                "ProcId": proc,
                "GlobalJobId": f"{schedd.name}#{cluster}.{proc}",
                "Owner": "user",
                "JobUniverse": 5,
                "JobStatus": JobStatus.IDLE,
                "QDate": int(now),
                "EnteredCurrentStatus": int(now),
                "RequestCpus": 1,
                "RequestMemory": 2048,
                "RequestDisk": 1024,
            }
            ad.update(spec.attrs)
            requirements = spec.requirements or self.scenario.job_requirements
            if requirements:
                ad["Requirements"] = self._requirements(requirements)
            schedd.jobs[f"{cluster}.{proc}"] = FakeJob(ad=ad, sim={"run_time": spec.run_time})

    def _requirements(self, text: str) -> Expr:
        expr = self._parsed.get(text)
        if expr is None:
            try:
                expr = self._parsed[text] = parse_expr(text)
            except ExprSyntaxError as exc:
                raise CondorError(f"scenario job requirements: {exc}") from None
        return expr

    def arrivals(self, now: float) -> None:
        """Queue the jobs the scenario's arrivals have brought by `now`."""
        for spec in self.scenario.schedds:
            for index, arrival in enumerate(spec.arrivals):
                elapsed = now - self.started - arrival.start
                if arrival.stop is not None:
                    elapsed = min(elapsed, arrival.stop - arrival.start)
                due = int(elapsed // arrival.every) + 1 if elapsed >= 0 else 0
                done = self._arrived.get((spec.name, index), 0)
                if due > done:
                    self._arrived[(spec.name, index)] = due
                    count = arrival.count * (due - done)
                    self.add_jobs(self.schedds[spec.name], arrival, count, now)

    def finish_jobs(self, now: float) -> None:
        """User jobs whose run time is over leave the queue; their slots go idle."""
        for slot in self.slots.values():
            if slot.job is None:
                continue
            schedd_name, _, job_id = slot.job.partition("/")
            user_job = self.schedds[schedd_name].jobs.get(job_id)
            if user_job is None or user_job.sim.get("end_at", now) <= now:
                self.schedds[schedd_name].jobs.pop(job_id, None)
                slot.job = None
                slot.ad.update(State="Unclaimed", Activity="Idle")

    # --- slots --------------------------------------------------------------------------

    def drop_slots(self, glidein: AdValue | None, now: float) -> None:
        """Remove the glidein's slots; a user job running on one goes back to idle."""
        for name in [n for n, s in self.slots.items() if s.ad.get("AglideinId") == glidein]:
            slot = self.slots.pop(name)
            if slot.job is None:
                continue
            schedd_name, _, job_id = slot.job.partition("/")
            user_job = self.schedds[schedd_name].jobs.get(job_id)
            if user_job is not None:
                user_job.ad.update(JobStatus=JobStatus.IDLE, EnteredCurrentStatus=int(now))
                user_job.ad.pop("RemoteHost", None)

    def retire(self, now: float) -> set[str]:
        """Slots past their `GLIDEIN_ToRetire` stop taking jobs; the glideins with such a
        slot free (their candidates to exit)."""
        retiring: set[str] = set()
        for slot in self.slots.values():
            if now >= float(slot.ad["GLIDEIN_ToRetire"]):  # type: ignore[arg-type]
                slot.ad.update(Activity="Retiring", Start=False)
                if slot.job is None:
                    retiring.add(str(slot.ad["AglideinId"]))
        return retiring

    def busy(self, glidein: str) -> bool:
        """Whether a slot of the glidein still runs a user job."""
        return any(s.job for s in self.slots.values() if s.ad.get("AglideinId") == glidein)

    # --- matching -----------------------------------------------------------------------

    def match(self, now: float) -> None:
        """Start idle user jobs on free slots whose ad their Requirements accept."""
        free = [
            (name, slot)
            for name, slot in self.slots.items()
            if slot.job is None and slot.ad.get("Start") is True
        ]
        if not free:
            return
        for schedd in self.schedds.values():
            for user_job in list(schedd.jobs.values()):
                if not free:
                    return
                if user_job.status != JobStatus.IDLE:
                    continue
                index = self._first_match(user_job, free)
                if index is None:
                    continue
                name, slot = free.pop(index)
                slot.job = f"{schedd.name}/{user_job.job_id}"
                slot.ad.update(State="Claimed", Activity="Busy")
                user_job.sim["end_at"] = now + float(user_job.sim.get("run_time", 3600.0))
                user_job.ad.update(
                    JobStatus=JobStatus.RUNNING,
                    EnteredCurrentStatus=int(now),
                    JobCurrentStartDate=int(now),
                    RemoteHost=name,
                )

    def _first_match(self, job: FakeJob, free: list[tuple[str, Slot]]) -> int | None:
        """The first free slot where the job's Requirements hold (HTCondor's match: only
        `true` matches). Evaluated once per distinct (job values, slot values) of the
        attributes the expression references."""
        requirements = job.ad.get("Requirements")
        if not isinstance(requirements, Expr):
            return 0
        mine, theirs = self._refs(requirements)
        job_key = (requirements.text, tuple(_hashable(job.ad.get(n)) for n in mine))
        for index, (_, slot) in enumerate(free):
            key = (job_key, tuple(_hashable(slot.ad.get(n)) for n in theirs))
            result = self._match_cache.get(key)
            if result is None:
                value = requirements.evaluate(job.ad, slot.ad)
                result = self._match_cache[key] = is_true(value)
            if result:
                return index
        return None

    def _refs(self, expr: Expr) -> tuple[tuple[str, ...], tuple[str, ...]]:
        refs = self._expr_refs.get(expr.text)
        if refs is None:
            mine, theirs = expr.references()
            refs = self._expr_refs[expr.text] = (tuple(sorted(mine)), tuple(sorted(theirs)))
        return refs


def _hashable(value: AdValue | None) -> object:
    return str(value) if isinstance(value, list | Expr) else value
