"""End to end: the real daemon, a minted log token, the pilot in no-condor mode.

The pilot's records must be searchable through GET /api/v1/logs while it still runs,
and its last record must arrive when it is stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip(
    "aglidein.services.glidein_logs.service",
    reason="the log service (POST /api/v1/logs) is not merged yet",
)

REPO = Path(__file__).resolve().parents[2]
GLIDEIN_ID = "e2e-0001"
ENTRY = "ENTRY_E2E"


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(condition: Any, within_s: float = 30.0) -> Any:
    """Poll `condition()` until it returns something truthy (a liveness bound)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {within_s} s")


OWNER = ", job_owner: nobody" if os.geteuid() == 0 else ""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`aglidein run` on a free port; yields (base URL, config path)."""
    key = tmp_path / "POOL"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    port = free_port()
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        # as root, a job owner is required (HTCondor never lets root own a job)
        f"factory: {{name: e2e, state_dir: {tmp_path / 'state'}{OWNER}}}\n"
        f"pool: {{collector: 127.0.0.1:1, trust_domain: t, signing_key: {key}}}\n"
        f'http: {{listen: ["127.0.0.1:{port}"]}}\n'
        f"entries:\n  - {{name: {ENTRY}, gridtype: local, attrs: {{GLIDEIN_Site: E2E}}}}\n"
    )
    (tmp_path / "state").mkdir()
    log = (tmp_path / "daemon.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "aglidein", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None and pytest.fail("daemon died")

    try:
        eventually(ready)
        yield base, config
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def search(base: str, **params: str) -> list[dict[str, Any]]:
    """Records of our glidein, via the read API (localhost needs no token)."""
    response = httpx.get(
        f"{base}/api/v1/logs", params={"glidein": GLIDEIN_ID, **params}, timeout=10
    )
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def test_pilot_records_are_searchable_while_it_runs(
    tmp_path: Path, daemon: tuple[str, Path]
) -> None:
    base, config = daemon
    mint = ["token", "log", "--config", str(config), "--entry", ENTRY, "--glidein", GLIDEIN_ID]
    token = subprocess.run(
        [sys.executable, "-m", "aglidein", *mint],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (tmp_path / "log.token").write_text(token + "\n")
    (tmp_path / "id.token").write_text("not-used-in-no-condor-mode\n")
    (tmp_path / "attrs").write_text("GLIDEIN_Site='E2E'\n")
    with tarfile.open(tmp_path / "glidein.tgz", "w:gz") as tar:
        tar.add(REPO / "glidein", arcname="glidein")
    env = {
        **os.environ,
        "GLIDEIN_CONDOR": "none",
        "GLIDEIN_WORKLOAD_SECONDS": "120",
        "GLIDEIN_LOG_BATCH_SECONDS": "1",
        "GLIDEIN_NETWORK_TIMEOUT": "2",
    }
    args = ["--id", GLIDEIN_ID, "--entry", ENTRY, "--factory", "e2e"]
    args += ["--collector", "127.0.0.1:1", "--log-url", f"{base}/api/v1/logs"]
    args += ["--idtoken", "id.token", "--log-token", "log.token", "--attrs", "attrs"]
    args += ["--glidein-tarball", "glidein.tgz"]
    pilot = subprocess.Popen(
        [str(REPO / "glidein" / "glidein_startup.sh"), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        records = eventually(lambda: [r for r in search(base) if r["event"] == "workload.start"])
        assert pilot.poll() is None  # still running: the records streamed
        events = {r["event"] for r in search(base)}
        assert {"glidein.start", "validate.disk", "glidein.validated"} <= events
        assert records[0]["entry"] == ENTRY
        pilot.send_signal(signal.SIGTERM)
        assert pilot.wait(timeout=60) == 13
        (end,) = eventually(lambda: search(base, event="glidein.end"))
        assert end["reason"] == "signalled"
        seqs = [r["seq"] for r in search(base, limit="1000")]
        assert len(seqs) == len(set(seqs))
    finally:
        if pilot.poll() is None:
            pilot.kill()
        pilot.communicate()
