"""`aglidein.demo.runner`: a short demo run on the simulated pool (duration, outcome,
progress lines, the kept simulated time) and the clock it resumes from."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import anyio
import httpx
from rich.console import Console
from structlog.testing import capture_logs

from aglidein.demo.checks import DemoChecks
from aglidein.demo.runner import (
    SIM_CLOCK_FILE,
    DemoOptions,
    DemoOutcome,
    resumed_clock,
    run_demo,
)
from aglidein.demo.setup import DemoSetup
from tests.daemon_helpers import free_port, simulated_pool_config

SCENARIO = {
    "schedds": [{"name": "schedd1", "jobs": [{"count": 3, "attrs": {"DESIRED_Sites": "SiteA"}}]}],
    "entries": {"default": {"queue_time": "1s", "run_time": "6s", "jitter": 0}},
}


def _setup(tmp_path: Path, signing_key: Path) -> DemoSetup:
    port = free_port()
    loaded = simulated_pool_config(tmp_path, signing_key, port, SCENARIO)
    return DemoSetup(
        state_dir=tmp_path / "state",
        config_file=tmp_path / "aglidein.yaml",
        loaded=loaded,
        port=port,
    )


def test_a_short_demo_stops_at_its_duration_and_keeps_the_simulated_time(
    tmp_path: Path, signing_key: Path
) -> None:
    setup = _setup(tmp_path, signing_key)
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    options = DemoOptions(duration=0.6, live=False, speed=30)
    started = time.time()
    outcome = anyio.run(run_demo, setup, options, console, backend="asyncio")
    assert outcome.daemon_status == 0
    assert not outcome.interrupted
    assert 0.6 <= outcome.elapsed < 10
    assert outcome.cycles >= 1
    # the fast clock ran 30 times faster than the wall clock
    assert outcome.simulated > outcome.elapsed * 5
    assert outcome.checks.submitted.get("A", 0) > 0
    text = out.getvalue()
    assert setup.base_url in text  # the intro
    assert "cycle " in text  # progress lines, not the live table
    kept = float((setup.state_dir / SIM_CLOCK_FILE).read_text())
    assert kept > started + outcome.elapsed * 5
    # a later run resumes from it, not from the wall clock
    assert resumed_clock(setup.state_dir, 30).now() >= kept


def test_a_first_run_starts_at_the_wall_clock(tmp_path: Path) -> None:
    clock = resumed_clock(tmp_path, 10)
    assert abs(clock.now() - time.time()) < 5
    assert clock.speed == 10


def test_a_stored_time_in_the_past_does_not_turn_the_clock_back(tmp_path: Path) -> None:
    (tmp_path / SIM_CLOCK_FILE).write_text("1000.0\n")
    assert resumed_clock(tmp_path, 10).now() >= time.time() - 1


async def _terminate_when_ready(base_url: str) -> None:
    """SIGTERM to this process once the demo's daemon answers ready (its signal receiver
    is open by then)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        with anyio.fail_after(60):
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_demo_stopped_by_sigterm_says_so_and_stops_cleanly(
    tmp_path: Path, signing_key: Path
) -> None:
    setup = _setup(tmp_path, signing_key)
    console = Console(file=io.StringIO(), width=200, highlight=False)
    options = DemoOptions(duration=600, live=False, speed=30)
    outcomes: list[DemoOutcome] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_terminate_when_ready, setup.base_url)
            outcomes.append(await run_demo(setup, options, console))

    with capture_logs() as logs:
        anyio.run(main, backend="asyncio")
    [outcome] = outcomes
    assert outcome.daemon_status == 0
    assert outcome.elapsed < 600
    assert outcome.interrupted
    assert outcome.stop_signal == "SIGTERM"
    assert outcome.how == "interrupted by SIGTERM"
    stopped = [e for e in logs if e["event"] == "demo.stopped"]
    assert stopped == [
        {"event": "demo.stopped", "log_level": "info", "reason": "signal", "signal": "SIGTERM"}
    ]


def test_the_summary_says_how_the_demo_ended() -> None:
    def outcome(interrupted: bool, stop_signal: str | None) -> DemoOutcome:
        return DemoOutcome(
            checks=DemoChecks(started=0.0),
            daemon_status=0,
            elapsed=1.0,
            simulated=30.0,
            cycles=1,
            interrupted=interrupted,
            stop_signal=stop_signal,
        )

    assert outcome(False, None).how == "duration reached"
    assert outcome(True, "SIGINT").how == "interrupted by SIGINT"
    assert outcome(True, None).how == "interrupted"
