"""The demo's fast clock leaks into nothing an operator types or is handed (issue 14 §5).

Log tokens minted with `aglidein token log`, `--since` windows and the log store's times
are wall-clock; the simulated time resumes where an earlier run on the state dir left it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aglidein.clock import ManualClock, ScaledClock
from aglidein.daemon import default_services
from aglidein.demo.runner import SIM_CLOCK_FILE, _keep_sim_time, resumed_clock
from aglidein.logkeys import LogKeyring
from aglidein.services.cycle_setup import token_writer
from aglidein.services.glidein_logs.service import LogService
from tests.adapter_helpers import idtoken_entry, make_config, make_runtime


def _fast_runtime(tmp_path: Path) -> tuple[Any, ManualClock]:
    config = make_config(tmp_path, {"A": idtoken_entry("SiteA")})
    wall = ManualClock(time.time())
    runtime = make_runtime(config, ScaledClock(30, wall))
    wall.advance(3600)  # an hour of demo: the simulation is 30 hours ahead
    assert runtime.clock.now() - wall.now() > 24 * 3600
    return runtime, wall


def test_a_log_token_minted_by_an_operator_is_accepted_while_the_demo_runs(
    tmp_path: Path,
) -> None:
    runtime, wall = _fast_runtime(tmp_path)
    try:
        (logs,) = [s for s in default_services(runtime).stores if isinstance(s, LogService)]
        keyring = LogKeyring.load(runtime.state_dir)  # as `aglidein token log` does
        token = keyring.mint("g1", "A", now=wall.now(), lifetime=3600)
        logs.verifier.load()
        assert logs.verifier.verify(token).glidein == "g1"  # before: refused as expired
        assert abs(logs.runtime.clock.now() - wall.now()) < 1  # --since, stored times
    finally:
        runtime.state.close()


def test_glidein_log_tokens_are_minted_on_the_wall_clock(tmp_path: Path) -> None:
    runtime, wall = _fast_runtime(tmp_path)
    try:
        config = runtime.config()
        write = token_writer(runtime.state_dir, wall)
        directory = tmp_path / "tokens"
        directory.mkdir()
        _, log_token = write(config, config.entry("A"), "g2", directory, runtime.clock.now())
        keyring = LogKeyring.load(runtime.state_dir)
        claims = keyring.verify(log_token.read_text().strip(), now=wall.now())
        assert claims.glidein == "g2"
        assert claims.expires < wall.now() + 60 * 3600  # not 30 h further on
    finally:
        runtime.state.close()


def test_the_simulated_time_resumes_where_the_last_run_left_it(tmp_path: Path) -> None:
    first = resumed_clock(tmp_path, 30)
    assert abs(first.now() - time.time()) < 60  # a first run starts at the wall clock
    later = time.time() + 5 * 3600
    _keep_sim_time(tmp_path, later)
    again = resumed_clock(tmp_path, 30)
    assert later <= again.now() < later + 60 * 30
    (tmp_path / SIM_CLOCK_FILE).write_text("not a time")
    assert abs(resumed_clock(tmp_path, 30).now() - time.time()) < 60
    (tmp_path / SIM_CLOCK_FILE).write_text("inf")
    assert abs(resumed_clock(tmp_path, 30).now() - time.time()) < 60
