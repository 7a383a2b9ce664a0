"""A factory on the simulated pool, run cycle by cycle on an injected clock.

`Sim` wires the production cycle (`build_cycle`, through the `Factory` helper of the
cycle tests) to a `FakePool` read from `tests/scenarios/data/`. Its factory schedd is
wrapped by a `Recorder` that passes every call through and notes what a user of the
factory schedd would see: each submission (entry, group, size, accepted or refused, the
entry's glideins just before it) and each removal. Counts of glideins come from the fake
pool's own job queue, not from what the daemon believes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aglidein.clock import ManualClock
from aglidein.condor.api import ActResult, JobAction, SubmitDescription, SubmitResult
from aglidein.condor.fake import FakePool, load_scenario
from aglidein.condor.fake_schedd import FakeSchedd, JobStatus
from aglidein.core.model import Decision, Plan
from aglidein.services.http import HttpService
from tests.adapter_helpers import make_config, metric
from tests.services.test_cycle import Factory, RecordingSchedd
from tests.services.test_provisioner import PoolWithSchedd

__all__ = ["DATA", "MATCH", "Removal", "Sim", "Submission", "ce_entry", "glidein_counts"]

DATA = Path(__file__).resolve().parent / "data"
MATCH = "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)"


def ce_entry(site: str, **extra: object) -> dict[str, object]:
    """An HTCondor-CE entry for `site` with one-core glideins (IDTOKEN auth)."""
    return {
        "gridtype": "condor",
        "gatekeeper": f"ce.{site.lower()}.example.org",
        "auth": {"method": "idtoken"},
        "attrs": {"GLIDEIN_Site": site, "GLIDEIN_CPUS": 1},
        **extra,
    }


_STATES = {JobStatus.IDLE: "idle", JobStatus.RUNNING: "running", JobStatus.HELD: "held"}


@dataclass(frozen=True)
class Submission:
    """One cluster sent to the factory schedd."""

    cycle: int
    entry: str
    group: str
    count: int
    accepted: bool
    # glideins by state just before it was sent: the entry's, the group's, the factory's
    before: Counter[str]
    group_before: Counter[str]
    factory_before: Counter[str]


@dataclass(frozen=True)
class Removal:
    """One remove (or removex) call on the factory schedd."""

    cycle: int
    entry: str
    reason: str
    job_ids: tuple[str, ...]
    states: Counter[str]  # what the removed glideins were doing


def glidein_counts(
    schedd: FakeSchedd, *, entry: str | None = None, group: str | None = None
) -> Counter[str]:
    """Live glideins in the fake factory schedd's queue by state (idle/running/held)."""
    out: Counter[str] = Counter()
    for job in schedd.jobs.values():
        if entry is not None and job.ad.get("AglideinEntry") != entry:
            continue
        if group is not None and job.ad.get("AglideinGroup") != group:
            continue
        state = _STATES.get(job.status)
        if state is not None:
            out[state] += 1
    return out


class Recorder(RecordingSchedd):
    """The factory schedd, passed through; records submissions and removals."""

    def __init__(self, inner: FakeSchedd, clock: ManualClock) -> None:
        super().__init__(inner, clock)
        self.fake = inner
        self.cycle_number = 0
        self.submissions: list[Submission] = []
        self.removals: list[Removal] = []

    async def submit(self, description: SubmitDescription) -> SubmitResult:
        commands = dict(description.commands)
        entry = commands["+AglideinEntry"].strip('"')
        group = commands["+AglideinGroup"].strip('"')
        before = (
            glidein_counts(self.fake, entry=entry),
            glidein_counts(self.fake, group=group),
            glidein_counts(self.fake),
        )
        accepted = False
        try:
            result: SubmitResult = await super().submit(description)
            accepted = True
            return result
        finally:
            self.submissions.append(
                Submission(self.cycle_number, entry, group, description.count, accepted, *before)
            )

    async def act(
        self, action: JobAction, job_ids: Sequence[str], *, reason: str = ""
    ) -> ActResult:
        if action in (JobAction.REMOVE, JobAction.REMOVE_X):
            jobs = [self.fake.jobs[j] for j in job_ids if j in self.fake.jobs]
            entries = {str(j.ad.get("AglideinEntry")) for j in jobs}
            states = Counter(_STATES.get(j.status, "other") for j in jobs)
            self.removals.append(
                Removal(
                    self.cycle_number,
                    ",".join(sorted(entries)),
                    reason.removeprefix("aglidein: "),
                    tuple(job_ids),
                    states,
                )
            )
        return await super().act(action, job_ids, reason=reason)


@dataclass
class Sim:
    """One factory, one simulated pool, one manual clock."""

    tmp_path: Path
    scenario: str  # file name under tests/scenarios/data/
    entries: dict[str, dict[str, Any]]
    groups: list[dict[str, Any]]
    factory_settings: dict[str, Any] = field(default_factory=dict)
    plans: list[Plan] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = ManualClock()
        self.pool = FakePool(load_scenario(DATA / self.scenario), clock=self.clock)
        self.config = make_config(
            self.tmp_path,
            self.entries,
            factory={"cycle": "5m", **self.factory_settings},
            groups=self.groups,
        )
        self.schedd = Recorder(self.pool.factory, self.clock)
        self.factory = Factory(
            self.tmp_path, self.config, PoolWithSchedd(self.pool, self.schedd), self.clock
        )
        self.schedd.cycle, self.schedd.config = self.factory.cycle, self.config
        self.runtime = self.factory.runtime
        self.period = self.config.factory.cycle

    # --- running ------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the pool started."""
        return self.clock.now() - self.pool.sim.started

    async def cycle(self) -> Plan:
        """One cycle now; the clock then moves on by `factory.cycle`."""
        self.schedd.cycle_number = len(self.plans) + 1
        plan = await self.factory.cycle.run_cycle()
        self.plans.append(plan)
        self.clock.advance(self.period)
        return plan

    def close(self) -> None:
        """Close the state DB."""
        self.factory.close()

    # --- what a user sees ---------------------------------------------------------------

    def glideins(self, *, entry: str | None = None, group: str | None = None) -> Counter[str]:
        """Live glideins in the factory schedd's queue, by state."""
        return glidein_counts(self.pool.factory, entry=entry, group=group)

    def submitted(self, cycle: int, entry: str, *, accepted: bool = True) -> list[int]:
        """Cluster sizes sent to `entry` in `cycle` (accepted ones unless told)."""
        return [
            s.count
            for s in self.schedd.submissions
            if s.cycle == cycle and s.entry == entry and s.accepted is accepted
        ]

    def removed(self, cycle: int, entry: str) -> int:
        """Glideins of `entry` removed in `cycle`."""
        return sum(
            len(r.job_ids) for r in self.schedd.removals if r.cycle == cycle and r.entry == entry
        )

    def decision(self, plan: Plan, entry: str, group: str = "main") -> Decision:
        """The plan's row for (group, entry)."""
        (row,) = [d for d in plan.decisions if d.entry == entry and d.group == group]
        return row

    def metric(self, name: str, **labels: str) -> float:
        """A sample from the daemon's /metrics registry."""
        return metric(self.runtime, name, **labels)

    async def status(self) -> dict[str, Any]:
        """`GET /api/v1/status` from the daemon's HTTP app, as a local operator would."""
        app = HttpService(self.runtime, self.factory.routes).app
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/api/v1/status")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def entry_status(self, entry: str) -> dict[str, Any]:
        """One entry of `/api/v1/status`."""
        (row,) = [e for e in (await self.status())["entries"] if e["name"] == entry]
        return row
