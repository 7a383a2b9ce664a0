"""The real daemon as systemd runs it: READY, metrics, status, reload, graceful stop."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from aglidein.gctune import GC_THRESHOLDS
from tests.daemon_helpers import RunningDaemon
from tests.tools import need


def test_ready_with_unreachable_pool_serves_health_and_status(daemon: RunningDaemon) -> None:
    assert daemon.get("/healthz").json() == {"status": "ok"}
    assert daemon.get("/readyz").status_code == 200
    status = daemon.get("/api/v1/status").json()
    assert set(status) == {
        "factory",
        "pool",
        "schedds",
        "entries",
        "credentials",
        "config",
        "downtimes",
        "accounting",
    }
    assert status["accounting"] == []  # nothing has ended yet
    assert set(status["factory"]) == {"name", "version", "started", "cycle"}
    assert set(status["factory"]["cycle"]) == {"number", "started", "duration_s"}
    assert status["factory"]["name"] == "test-factory"
    assert [e["name"] for e in status["entries"]] == ["LOCAL1"]
    entry = status["entries"][0]
    assert set(entry) == {"name", "health", "backoff_until", "glideins", "decisions", "downtime"}
    assert set(entry["glideins"]) == {"idle", "running", "held", "black_hole"}
    assert any("STATUS=" in m for m in daemon.messages)


def test_metrics_pass_promtool(daemon: RunningDaemon, tmp_path: Path) -> None:
    promtool = need("promtool")
    text = daemon.get("/metrics").text
    assert "aglidein_event_loop_lag_seconds_bucket" in text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_openapi_lists_every_route(daemon: RunningDaemon) -> None:
    paths = daemon.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/status",
        "/api/v1/reload",
        "/api/v1/session",
        "/api/v1/downtimes",
        "/api/v1/downtimes/{id}",
    ):
        assert path in paths


def test_sighup_with_broken_config_keeps_the_old_one(daemon: RunningDaemon, tmp_path: Path) -> None:
    config = tmp_path / "aglidein.yaml"
    good = config.read_text()
    config.write_text(good.replace("name: test-factory", "name: test-factory\n  bogus: 1"))
    daemon.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        metrics = daemon.get("/metrics").text
        if 'aglidein_config_reloads_total{result="failure"} 1.0' in metrics:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no failed reload counted")
    assert daemon.process.poll() is None
    assert daemon.get("/api/v1/status").json()["factory"]["name"] == "test-factory"
    assert "config.reload_failed" in daemon.log()
    # a good config now reloads, and the API answers with what changed
    config.write_text(good.replace("shutdown_grace: 10s", "shutdown_grace: 12s"))
    result = daemon.post("/api/v1/reload").json()
    assert result["ok"] is True
    assert result["changes"] == ["factory.shutdown_grace: '10s' -> '12s'"]


def test_sigterm_exits_0_within_grace_and_says_stopping(daemon: RunningDaemon) -> None:
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    daemon.read_notify("STOPPING=1", timeout=2)
    assert "daemon.stopped" in daemon.log()


def test_the_daemon_runs_with_the_collector_tuned(daemon: RunningDaemon) -> None:
    deadline = time.monotonic() + 10  # READY=1 goes out just before the log line
    while "daemon.ready" not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    ready = next(line for line in daemon.log().splitlines() if "daemon.ready" in line)
    assert json.loads(ready)["gc_thresholds"] == list(GC_THRESHOLDS), ready
