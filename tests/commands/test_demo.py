"""`aglidein demo`: the CI run of the whole demo (60 s), Ctrl-C, a taken port."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aglidein.cli import main
from tests.daemon_helpers import free_port


def demo_command(state_dir: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aglidein",
        "demo",
        "--no-tty",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        *extra,
    ]


@pytest.mark.timeout(180)  # the one long test: the demo as CI runs it (DESIGN §12)
def test_a_one_minute_demo_passes_its_checks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    done = subprocess.run(
        demo_command(state, port, "--duration", "60s"),
        capture_output=True,
        text=True,
        timeout=170,
    )
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in err
    assert f"viewer   http://127.0.0.1:{port}/" in out
    assert f"entries  http://127.0.0.1:{port}/entries" in out
    assert f"http://127.0.0.1:{port}/metrics" in out
    assert f"http://127.0.0.1:{port}/api/v1/status" in out
    assert "cycle " in out  # progress lines while it ran
    assert "demo summary: duration reached after 6" in out
    assert out.count("[ok  ]") == 3
    assert "all checks held" in out
    # the demo made its own private key and left a config `aglidein status` can use
    assert (state / "POOL").stat().st_mode & 0o777 == 0o600
    assert f"127.0.0.1:{port}" in (state / "aglidein.yaml").read_text()
    pilots = list((state / "glideins" / "Local_Demo").glob("*.out"))
    assert pilots, "no local pilot ran"
    assert (state / "history.db").stat().st_size > 0  # the status pages' time series


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_demo_cleanly_with_a_summary_naming_it(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    process = subprocess.Popen(
        demo_command(tmp_path / "state", port, "--duration", "10m"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the first progress line: the daemon is up
            line = process.stdout.readline()
            if not line or line.startswith("["):
                break
        time.sleep(3)
        process.send_signal(signum)
        out, err = process.communicate(timeout=40)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in err, err
    assert f"demo summary: interrupted by {signum.name} after " in out
    stopped = [
        json.loads(line)
        for line in (tmp_path / "state" / "aglidein.log").read_text().splitlines()
        if '"demo.stopped"' in line
    ]
    assert [(e["reason"], e["signal"]) for e in stopped] == [("signal", signum.name)]
    assert process.returncode in (0, 1)  # 0 only if the checks already held
    if process.returncode == 1:
        assert "check(s) failed" in out


def test_a_taken_port_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        status = main(["demo", "--port", str(port), "--state-dir", str(tmp_path / "s")])
    assert status == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is taken" in err
    assert "--port" in err
    assert "Traceback" not in err
    assert not (tmp_path / "s").exists()
