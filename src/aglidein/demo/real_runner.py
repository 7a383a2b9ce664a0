"""The real demo run: the daemon in this process on the real VO pool + site (wall clock),
a task that keeps user jobs queued on the VO schedd and watches them, the live view of
`make demo`, stopped by the duration or Ctrl-C / SIGTERM (the daemon's graceful drain).

The pools are started and stopped by the caller (`aglidein.commands.demo_real`); this
module runs between the two."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx
import structlog
from rich.console import Console, Group, RenderableType
from rich.text import Text

from aglidein.daemon import Daemon
from aglidein.demo.checks import Check, PilotLogs, probe_pilot_logs, submitted_by_entry
from aglidein.demo.realpool import RealDemoSetup, UserJobs, UserJobStats
from aglidein.demo.view import checks_text, live_view
from aglidein.services.metrics import Metrics
from aglidein.services.runtime import Runtime
from aglidein.statusview import entry_rows, status_renderable

__all__ = ["RealOutcome", "RealSeen", "exits_by_reason", "real_summary", "run_real_demo"]

log = structlog.get_logger()

_TICK = 1.0  # seconds between looks at the daemon
_STATS_EVERY = 5.0  # seconds between looks at the VO schedd (condor_q, condor_history)
_FIRST_JOBS = 6  # user jobs queued when the daemon is ready
_MORE_JOBS = 4  # ... and again whenever fewer than _LOW_WATER wait
_LOW_WATER = 2
_KEEP_FEEDING = 0.6  # of --duration: later, no new jobs, so idle glideins retire


def exits_by_reason(metrics: Metrics) -> dict[str, int]:
    """Glideins that ended, by exit reason, over every entry (from the metrics)."""
    out: dict[str, int] = {}
    for family in metrics.glidein_exits.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.value > 0:
                reason = sample.labels["reason"]
                out[reason] = out.get(reason, 0) + int(sample.value)
    return out


@dataclass
class RealSeen:
    """What the demo saw while it ran: the user jobs, the glideins, the pilot logs."""

    jobs: UserJobStats = field(default_factory=UserJobStats)
    submitted: dict[str, int] = field(default_factory=dict)  # glideins, per entry
    exits: dict[str, int] = field(default_factory=dict)  # glideins ended, per reason
    max_slots: int = 0  # most glideins seen at once with a startd in the VO collector
    pilots: PilotLogs = field(default_factory=PilotLogs)

    def observe_jobs(self, jobs: UserJobStats) -> None:
        """Keep the latest answer, unless it is an error and an earlier one was good."""
        if jobs.error is None or not self.jobs.submitted:
            self.jobs = jobs
        self.max_slots = max(self.max_slots, jobs.slots)

    def results(self) -> list[Check]:
        """The demo's checks: glideins went out, joined the VO pool and ran user jobs."""
        entries = ", ".join(f"{e} {n}" for e, n in sorted(self.submitted.items()))
        jobs = self.jobs
        return [
            Check(
                "glideins submitted to the site (HTCondor-C)",
                sum(self.submitted.values()) > 0,
                f"{sum(self.submitted.values())} glideins" + (f" ({entries})" if entries else ""),
            ),
            Check(
                "glidein startds joined the VO pool",
                self.max_slots > 0,
                f"up to {self.max_slots} glideins at once",
            ),
            Check(
                "user jobs completed on glidein slots",
                jobs.on_glideins > 0,
                f"{jobs.on_glideins} of {jobs.submitted} user jobs, on "
                f"{len(jobs.glideins_used)} glideins"
                + (f" (last query failed: {jobs.error})" if jobs.error else ""),
            ),
        ]

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return all(check.ok for check in self.results())


@dataclass(frozen=True)
class RealOutcome:
    """How the real demo ended."""

    seen: RealSeen
    daemon_status: int
    elapsed: float
    cycles: int
    interrupted: bool


_Show = Callable[[float, Mapping[str, Any], RealSeen], None]  # elapsed, status, seen


class _Watcher:
    """Feeds user jobs, looks at the daemon and the VO schedd, shows the view."""

    def __init__(
        self,
        daemon: Daemon,
        setup: RealDemoSetup,
        duration: float | None,
        live: bool,
        console: Console,
    ) -> None:
        self.daemon = daemon
        self.setup = setup
        self.duration = duration
        self.live = live
        self.console = console
        self.jobs = UserJobs(setup.topology.vo)
        self.seen = RealSeen()
        self.started = anyio.current_time()
        self.elapsed = 0.0
        self.reached = False  # the duration passed (else Ctrl-C, SIGTERM or an error)

    async def run(self) -> None:
        await self.daemon.ready.wait()
        runtime = self.daemon.runtime
        assert runtime is not None  # set before ready
        self.started = anyio.current_time()
        for line in real_intro(self.setup, self.duration):
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)
        await anyio.to_thread.run_sync(self.jobs.submit, _FIRST_JOBS)
        async with httpx.AsyncClient(base_url=self.setup.base_url, timeout=10) as client:
            if self.live:
                with live_view(self.console) as live:

                    def update(elapsed: float, status: Mapping[str, Any], seen: RealSeen) -> None:
                        live.update(self._renderable(status), refresh=True)

                    await self._loop(runtime, client, update)
            else:
                await self._loop(runtime, client, _Lines(self.console).show)

    async def _loop(self, runtime: Runtime, client: httpx.AsyncClient, show: _Show) -> None:
        next_stats = 0.0
        while True:
            self.elapsed = anyio.current_time() - self.started
            if not runtime.status.ready:  # the daemon is draining (Ctrl-C, SIGTERM)
                return
            self.seen.submitted = submitted_by_entry(self.daemon.metrics)
            self.seen.exits = exits_by_reason(self.daemon.metrics)
            if self.elapsed >= next_stats:
                await self.look(client)
                await self._feed()
                next_stats = self.elapsed + _STATS_EVERY
            show(self.elapsed, runtime.status.as_json(), self.seen)
            if self.duration is not None and self.elapsed >= self.duration:
                self.reached = True
                self.daemon.request_stop()
                return
            await anyio.sleep(_TICK)

    async def look(self, client: httpx.AsyncClient) -> None:
        """Ask the VO schedd about the user jobs and the daemon about pilot logs."""
        self.seen.observe_jobs(await anyio.to_thread.run_sync(self.jobs.stats))
        pilots = await probe_pilot_logs(client)
        if pilots.error is None or not self.seen.pilots.started:
            self.seen.pilots = pilots

    async def _feed(self) -> None:
        feeding = self.duration is None or self.elapsed < _KEEP_FEEDING * self.duration
        jobs = self.seen.jobs
        if feeding and jobs.error is None and jobs.idle < _LOW_WATER:
            await anyio.to_thread.run_sync(self.jobs.submit, _MORE_JOBS)

    def _renderable(self, status: Mapping[str, Any]) -> RenderableType:
        url = self.setup.base_url
        head = Text.assemble(
            (f"{self.elapsed:5.0f} s", "bold"),
            f" real pool   viewer {url}/  metrics {url}/metrics   Ctrl-C stops",
        )
        return Group(
            head,
            checks_text(self.seen.results()),
            Text(jobs_line(self.seen)),
            status_renderable(status),
        )


class _Lines:
    """`--no-tty`: one progress line every few seconds."""

    def __init__(self, console: Console, every: float = 10.0) -> None:
        self.console = console
        self.every = every
        self._next = 0.0

    def show(self, elapsed: float, status: Mapping[str, Any], seen: RealSeen) -> None:
        """Print a line when one is due."""
        if elapsed < self._next:
            return
        self._next = elapsed + self.every
        rows = entry_rows(status)
        cycle = status.get("factory", {}).get("cycle", {}).get("number", 0)
        idle = sum(r["idle"] for r in rows)
        running = sum(r["running"] for r in rows)
        held = sum(r["held"] for r in rows)
        line = (
            f"[{elapsed:3.0f}s] cycle {cycle}: glideins idle {idle} running {running} "
            f"held {held}; {jobs_line(seen)}"
        )
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)


def jobs_line(seen: RealSeen) -> str:
    """User jobs by state, glidein slots, submissions and exits, in one line."""
    jobs = seen.jobs
    exits = ", ".join(f"{r} {n}" for r, n in sorted(seen.exits.items())) or "none"
    return (
        f"user jobs: {jobs.submitted} submitted, {jobs.idle} idle, {jobs.running} running, "
        f"{jobs.on_glideins} done on glideins; glideins in the VO pool {jobs.slots}; "
        f"glideins submitted {sum(seen.submitted.values())}, exited: {exits}"
    )


def real_intro(setup: RealDemoSetup, duration: float | None) -> list[str]:
    """The lines printed once the daemon is up: where things are."""
    url = setup.base_url
    topology = setup.topology
    run = f"for {duration:.0f} s" if duration else "until Ctrl-C"
    return [
        f"aglidein demo --real-pool: HTCondor daemons on 127.0.0.1, running {run}",
        f"  VO pool  collector {topology.vo.collector}, schedd {topology.vo.schedd_name}"
        " (user jobs; the factory schedd)",
        f"  site     {topology.gatekeeper} (HTCondor-C; entries SITE_A, SITE_B)",
        f"  viewer   {url}/   status {url}/api/v1/status   metrics {url}/metrics",
        f"  files    {topology.base}  (aglidein.yaml, aglidein.log, vo/log, site/log)",
        f"  condor   CONDOR_CONFIG={topology.vo.config_path} condor_q -allusers",
    ]


def real_summary(outcome: RealOutcome, *, how: str) -> list[str]:
    """The closing report: how it ended, user jobs, glideins, then every check."""
    seen = outcome.seen
    jobs = seen.jobs
    submitted = sum(seen.submitted.values())
    per_entry = ", ".join(f"{e} {n}" for e, n in sorted(seen.submitted.items()))
    exits = ", ".join(f"{r} {n}" for r, n in sorted(seen.exits.items())) or "none yet"
    lines = [
        "",
        f"real demo summary: {how} after {outcome.elapsed:.0f} s ({outcome.cycles} cycles)",
        f"  user jobs: {jobs.submitted} submitted, {jobs.completed} completed, "
        f"{jobs.on_glideins} of them on glidein slots ({len(jobs.glideins_used)} glideins)",
        f"  glideins: {submitted} submitted"
        + (f" ({per_entry})" if per_entry else "")
        + f"; exited by reason: {exits}",
        f"  pilot logs: {len(seen.pilots.started)} glideins logged, "
        f"{seen.pilots.records} records stored",
    ]
    results = seen.results()
    for check in results:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"  [{mark}] {check.name}: {check.detail}")
    failed = [c.name for c in results if not c.ok]
    lines.append(
        f"{len(failed)} check(s) failed: {'; '.join(failed)}" if failed else "all checks held"
    )
    return lines


async def run_real_demo(
    setup: RealDemoSetup, duration: float | None, live: bool, console: Console
) -> RealOutcome:
    """Run the daemon and the watcher until the duration passes or the daemon stops;
    a last look at the VO schedd while the pools still run."""
    daemon = Daemon(setup.loaded)
    watcher = _Watcher(daemon, setup, duration, live, console)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        status = await daemon.run()
        tg.cancel_scope.cancel()
    if not watcher.elapsed:
        watcher.elapsed = anyio.current_time() - watcher.started
    watcher.seen.submitted = submitted_by_entry(daemon.metrics)
    watcher.seen.exits = exits_by_reason(daemon.metrics)
    with anyio.CancelScope(shield=True), anyio.move_on_after(30):
        watcher.seen.observe_jobs(await anyio.to_thread.run_sync(watcher.jobs.stats))
    runtime = daemon.runtime
    cycles = runtime.status.cycle.number if runtime is not None else 0
    log.info("demo.real_done", checks_ok=watcher.seen.ok, cycles=cycles)
    return RealOutcome(
        seen=watcher.seen,
        daemon_status=status,
        elapsed=watcher.elapsed,
        cycles=cycles,
        interrupted=not watcher.reached,
    )
