"""The demo run: the daemon in this process on the simulated pool with a fast clock,
watched by a task that feeds the view and the checks, stopped by the duration or Ctrl-C
(the daemon's own graceful drain).

The fast clock is the simulation's only (see `aglidein.clock`). Its time is kept in
`state_dir/demo-clock` as the demo runs, and a later demo on the same state dir resumes
from it: the backoffs and batches an earlier run stored are in simulated time, so they
go on where they were instead of lasting hours more, or vanishing."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import structlog
from rich.console import Console

from aglidein.clock import ScaledClock
from aglidein.daemon import Daemon
from aglidein.demo.checks import DemoChecks, probe_pilot_logs, submitted_by_entry
from aglidein.demo.setup import DemoSetup
from aglidein.demo.view import Moment, ProgressLines, intro, live_view, moment_renderable
from aglidein.services.runtime import Runtime
from aglidein.state import StateDirLock

__all__ = ["SIM_CLOCK_FILE", "DemoOptions", "DemoOutcome", "resumed_clock", "run_demo"]

log = structlog.get_logger()

_TICK = 0.5  # seconds between looks at the daemon
_PROBE_EVERY = 3.0  # seconds between looks at the log API
SIM_CLOCK_FILE = "demo-clock"


def resumed_clock(state_dir: Path, speed: float) -> ScaledClock:
    """The demo's fast clock, resuming the simulated time a run on `state_dir` reached."""
    try:
        start = float((state_dir / SIM_CLOCK_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):  # a first run, or a file that is not ours
        start = 0.0
    return ScaledClock(speed, start=start if math.isfinite(start) else 0.0)


def _keep_sim_time(state_dir: Path, now: float) -> None:
    """Write the simulated time for the next run (atomically: a reader sees one or the other)."""
    path = state_dir / SIM_CLOCK_FILE
    temp = path.with_name(path.name + ".tmp")
    try:
        temp.write_text(f"{now!r}\n", encoding="ascii")
        os.replace(temp, path)
    except OSError as exc:  # the next run starts at the wall clock: not worth stopping for
        log.warning("demo.clock_not_kept", path=str(path), error=str(exc))


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo."""

    duration: float | None  # None: until Ctrl-C
    live: bool  # a live table (a terminal) or progress lines
    speed: float  # simulated seconds per wall second


@dataclass(frozen=True)
class DemoOutcome:
    """How the demo ended."""

    checks: DemoChecks
    daemon_status: int
    elapsed: float
    simulated: float
    cycles: int
    interrupted: bool  # stopped before its duration (a signal, or the daemon on its own)
    stop_signal: str | None = None  # the signal that stopped it (SIGINT, SIGTERM)

    @property
    def how(self) -> str:
        """How it ended, for the summary: `duration reached`, `interrupted by SIGTERM`, …"""
        if not self.interrupted:
            return "duration reached"
        return f"interrupted by {self.stop_signal}" if self.stop_signal else "interrupted"


class _Watcher:
    """Looks at the running daemon every tick: checks, view, the duration."""

    def __init__(
        self, daemon: Daemon, setup: DemoSetup, options: DemoOptions, console: Console
    ) -> None:
        self.daemon = daemon
        self.setup = setup
        self.options = options
        self.console = console
        clock = daemon.clock
        self.sim_start = clock.now()
        self.checks = DemoChecks(started=self.sim_start)
        self.started = anyio.current_time()
        self.elapsed = 0.0
        self.reached = False  # the duration passed (else a signal, or the daemon stopped)

    @property
    def simulated(self) -> float:
        return self.daemon.clock.now() - self.sim_start

    async def run(self) -> None:
        await self.daemon.ready.wait()
        runtime = self.daemon.runtime
        assert runtime is not None  # set before ready
        self.started = anyio.current_time()
        self.sim_start = self.daemon.clock.now()
        self.checks.started = self.sim_start
        for line in intro(self.setup, self.options.speed, self.options.duration):
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)
        async with httpx.AsyncClient(base_url=self.setup.base_url, timeout=10) as client:
            if self.options.live:
                with live_view(self.console) as live:
                    await self._loop(
                        runtime, client, lambda m: live.update(moment_renderable(m), refresh=True)
                    )
            else:
                lines = ProgressLines(self.console)
                await self._loop(runtime, client, lines.show)

    async def _loop(self, runtime: Runtime, client: httpx.AsyncClient, show: Any) -> None:
        next_probe = 0.0
        duration = self.options.duration
        while True:
            self.elapsed = anyio.current_time() - self.started
            if not runtime.status.ready:  # the daemon is draining (Ctrl-C, SIGTERM)
                return
            await self._observe(runtime)
            if self.elapsed >= next_probe:
                self.checks.observe_pilots(await probe_pilot_logs(client))
                next_probe = self.elapsed + _PROBE_EVERY
            show(self._moment(runtime))
            if duration is not None and self.elapsed >= duration:
                # a last look while HTTP still serves
                self.reached = True
                self.checks.observe_pilots(await probe_pilot_logs(client))
                self.daemon.request_stop()
                return
            await anyio.sleep(_TICK)

    async def _observe(self, runtime: Runtime) -> None:
        await anyio.to_thread.run_sync(
            _keep_sim_time, self.setup.state_dir, self.daemon.clock.now()
        )
        self.checks.submitted = submitted_by_entry(self.daemon.metrics)
        self.checks.observe_health(await runtime.state.load_health())

    def _moment(self, runtime: Runtime) -> Moment:
        return Moment(
            elapsed=self.elapsed,
            simulated=self.simulated,
            status=runtime.status.as_json(),
            checks=self.checks,
            base_url=self.setup.base_url,
        )


async def run_demo(
    setup: DemoSetup, options: DemoOptions, console: Console, lock: StateDirLock | None = None
) -> DemoOutcome:
    """Run the daemon and the watcher until the duration passes or the daemon stops.

    `lock`: the state dir, taken by the caller before it wrote there; else the daemon takes it.
    """
    clock = resumed_clock(setup.state_dir, options.speed)
    daemon = Daemon(setup.loaded, clock=clock, lock=lock)
    watcher = _Watcher(daemon, setup, options, console)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        status = await daemon.run()
        tg.cancel_scope.cancel()
    await anyio.to_thread.run_sync(_keep_sim_time, setup.state_dir, clock.now())
    runtime = daemon.runtime
    cycles = runtime.status.cycle.number if runtime is not None else 0
    if not watcher.elapsed:
        watcher.elapsed = anyio.current_time() - watcher.started
    # the daemon knows which signal began its drain; the watcher may not have looked
    # between the signal and the end of the drain (or even seen the daemon ready)
    stop_signal = None if watcher.reached else daemon.stop_signal
    if watcher.reached:
        log.info("demo.stopped", reason="duration", duration_s=options.duration)
    elif stop_signal is not None:
        log.info("demo.stopped", reason="signal", signal=stop_signal)
    else:
        log.info("demo.stopped", reason="daemon_stopped", daemon_status=status)
    log.info("demo.done", checks_ok=watcher.checks.ok, cycles=cycles)
    return DemoOutcome(
        checks=watcher.checks,
        daemon_status=status,
        elapsed=watcher.elapsed,
        simulated=watcher.simulated,
        cycles=cycles,
        interrupted=not watcher.reached,
        stop_signal=stop_signal,
    )
