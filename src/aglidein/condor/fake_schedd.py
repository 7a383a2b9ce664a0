"""A simulated schedd: a job queue with HTCondor's query, act and edit semantics.

Constraints and projections are evaluated with classad2 (through `aglidein.classad.facade`).
The queue is plain data; `fake_sim` moves jobs between states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aglidein.classad.facade import AdValue, Expr, ExprSyntaxError, is_true, parse_expr
from aglidein.condor.api import ActResult, Ad, JobAction, SubmitDescription, SubmitResult
from aglidein.condor.submit_table import classad_literal
from aglidein.errors import CondorError

__all__ = ["FakeJob", "FakeSchedd", "JobStatus"]


class JobStatus:
    """HTCondor's JobStatus numbers."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5


# attributes that differ per job and are not significant for autoclusters
_IDENTITY = {
    "clusterid",
    "procid",
    "globaljobid",
    "qdate",
    "enteredcurrentstatus",
    "jobstatus",
    "jobcurrentstartdate",
    "remotehost",
    "aglideinid",
    "args",
    "out",
    "err",
}


@dataclass
class FakeJob:
    """One job: its ad plus what the simulator keeps about it."""

    ad: dict[str, AdValue]
    sim: dict[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        """`cluster.proc`."""
        return f"{self.ad['ClusterId']}.{self.ad['ProcId']}"

    @property
    def status(self) -> int:
        """JobStatus."""
        value = self.ad.get("JobStatus", JobStatus.IDLE)
        return value if isinstance(value, int) else JobStatus.IDLE


@lru_cache(maxsize=512)
def _constraint(text: str) -> Expr:
    try:
        return parse_expr(text)
    except ExprSyntaxError as exc:
        raise CondorError(f"invalid constraint: {exc}") from None


SubmitHook = Callable[["FakeSchedd", SubmitDescription], list[FakeJob]]
ActionHook = Callable[["FakeSchedd", FakeJob, JobAction, str], bool]


class FakeSchedd:
    """A schedd of the simulated pool (implements `condor.api.Schedd`)."""

    def __init__(
        self,
        name: str,
        *,
        step: Callable[[], None] = lambda: None,
        on_submit: SubmitHook | None = None,
        on_action: ActionHook | None = None,
    ) -> None:
        self._name = name
        self.jobs: dict[str, FakeJob] = {}
        self.next_cluster = 1
        self.down = False  # answer every call with CondorError (a failing schedd)
        self._step = step
        self._on_submit = on_submit
        self._on_action = on_action

    @property
    def name(self) -> str:
        """The schedd's name."""
        return self._name

    def _check(self) -> None:
        if self.down:
            raise CondorError(f"schedd {self._name}: connection refused (simulated)")
        self._step()

    # --- queries ------------------------------------------------------------------------

    def matching(self, constraint: str = "true") -> list[FakeJob]:
        """Jobs whose ad makes `constraint` true (no simulation step)."""
        expr = _constraint(constraint or "true")
        return [job for job in self.jobs.values() if is_true(expr.evaluate(job.ad))]

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        """Job ads matching `constraint`, only the `projection` attributes (all if empty)."""
        self._check()
        out: list[Ad] = []
        for job in self.matching(constraint):
            out.append(_project(job.ad, projection))
            if 0 <= limit <= len(out):
                break
        return out

    async def query_autoclusters(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        """One ad per group of jobs alike in `projection` (significant attributes if
        empty), with `JobCount` and `AutoClusterId`."""
        self._check()
        clusters: dict[tuple[tuple[str, str], ...], tuple[Ad, list[int]]] = {}
        for job in self.matching(constraint):
            ad = _project(job.ad, projection) if projection else _significant(job.ad)
            key = tuple(sorted((k.lower(), repr(v)) for k, v in ad.items()))
            if key not in clusters:
                clusters[key] = (ad, [0])
            clusters[key][1][0] += 1
        return [
            {**ad, "JobCount": count[0], "AutoClusterId": index}
            for index, (ad, count) in enumerate(clusters.values())
        ]

    # --- changes ------------------------------------------------------------------------

    async def submit(self, description: SubmitDescription) -> SubmitResult:
        """Submit one cluster: one proc per itemdata row."""
        self._check()
        if self._on_submit is None:
            raise CondorError(f"schedd {self._name}: submission not allowed (simulated)")
        cluster = self.next_cluster
        jobs = self._on_submit(self, description)
        self.next_cluster += 1
        for proc, job in enumerate(jobs):
            job.ad.update(
                ClusterId=cluster, ProcId=proc, GlobalJobId=f"{self._name}#{cluster}.{proc}"
            )
            self.jobs[f"{cluster}.{proc}"] = job
        return SubmitResult(cluster=cluster, first_proc=0, count=len(jobs))

    async def act(
        self, action: JobAction, job_ids: Sequence[str], *, reason: str = ""
    ) -> ActResult:
        """Hold, release, remove or removex; counts as HTCondor reports them."""
        self._check()
        success = failure = not_found = 0
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is None:
                not_found += 1
            elif self._on_action is not None and self._on_action(self, job, action, reason):
                success += 1
            else:
                failure += 1
        return ActResult(success=success, failure=failure, not_found=not_found)

    async def edit(self, job_ids: Sequence[str], attr: str, value: str) -> int:
        """Set `attr` to the ClassAd expression `value`; the number of jobs edited."""
        self._check()
        try:
            new = classad_literal(value, attr)
        except ValueError as exc:
            raise CondorError(f"edit {attr}: {exc}") from None
        edited = 0
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is not None:
                job.ad[attr] = new
                edited += 1
        return edited


def _project(ad: dict[str, AdValue], projection: Sequence[str]) -> dict[str, AdValue]:
    if not projection:
        return dict(ad)
    lowered = {k.lower(): k for k in ad}
    out: dict[str, AdValue] = {}
    for name in projection:
        key = lowered.get(name.lower())
        if key is not None:
            out[key] = ad[key]
    return out


def _significant(ad: dict[str, AdValue]) -> dict[str, AdValue]:
    return {k: v for k, v in ad.items() if k.lower() not in _IDENTITY}
