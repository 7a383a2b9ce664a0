"""`aglidein.demo.runner`: a short demo run on the simulated pool (duration, outcome,
progress lines, the kept simulated time) and the clock it resumes from."""

from __future__ import annotations

import io
import time
from pathlib import Path

import anyio
from rich.console import Console

from aglidein.demo.runner import SIM_CLOCK_FILE, DemoOptions, resumed_clock, run_demo
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
