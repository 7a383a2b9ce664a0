"""Daemons for tests: a real `aglidein run` subprocess with a NOTIFY_SOCKET the test
owns, or a daemon in the test's process on the simulated pool."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from aglidein.clock import SystemClock
from aglidein.condor.fake import FakePool
from aglidein.config import LoadedConfig, parse_config_text
from aglidein.daemon import Daemon, Subsystems
from aglidein.services.cycle_setup import build_cycle, pool_for
from aglidein.services.glidein_files import PilotKit
from aglidein.services.glidein_logs.service import LogService
from aglidein.services.runtime import Runtime
from tests.adapter_helpers import idtoken_entry, placeholder_pilot

# HTCondor never lets root own a job, so a root aglidein must name the job owner
# (`factory.job_owner`); test daemons never reach a schedd: any unprivileged user will do
JOB_OWNER_LINE = "  job_owner: nobody\n" if os.geteuid() == 0 else ""


def free_port() -> int:
    """A TCP port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningDaemon:
    """A daemon subprocess and the notify messages it sent."""

    process: subprocess.Popen[bytes]
    notify: socket.socket
    base_url: str
    log_path: Path
    messages: list[str] = field(default_factory=list)

    def read_notify(self, want: str, timeout: float = 20.0) -> list[str]:
        """Collect notify datagrams until one contains `want`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(want in m for m in self.messages):
                return self.messages
            self.notify.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except TimeoutError:
                break
            if self.process.poll() is not None and not any(want in m for m in self.messages):
                break
        raise AssertionError(
            f"no {want!r} from the daemon; got {self.messages}; log:\n{self.log()}"
        )

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(self.base_url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return int(self.process.returncode)


def start_daemon(
    config: Path, tmp_path: Path, port: int, extra_env: dict[str, str] | None = None
) -> RunningDaemon:
    """Run `aglidein run --config` and wait for READY=1."""
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    log_path = tmp_path / "daemon.log"
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), **(extra_env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "aglidein", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    daemon = RunningDaemon(process, notify, f"http://127.0.0.1:{port}", log_path)
    daemon.read_notify("READY=1")
    return daemon


# --- a daemon in this process, on the simulated pool -------------------------------------


def simulated_pool_config(
    tmp_path: Path,
    signing_key: Path,
    port: int,
    scenario: dict[str, Any],
    *,
    group_limits: dict[str, Any] | None = None,
) -> LoadedConfig:
    """A factory `sim` on the simulated pool of `scenario` (written beside the state dir):
    group `main` on schedd1 matching `DESIRED_Sites`, entry A at SiteA, HTTP on `port`."""
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario))
    group: dict[str, Any] = {
        "name": "main",
        "schedds": ["schedd1"],
        "match": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
    }
    if group_limits is not None:
        group["limits"] = group_limits
    config = {
        "factory": {"name": "sim", "state_dir": str(tmp_path / "state"), "cycle": "1s"},
        "pool": {
            "collector": "cm.example.org:9618",
            "trust_domain": "example.org",
            "signing_key": str(signing_key),
            "simulate": str(scenario_file),
        },
        "http": {"listen": [f"127.0.0.1:{port}"]},
        "groups": [group],
        "entries": [{"name": "A", **idtoken_entry("SiteA")}],
    }
    return parse_config_text(yaml.safe_dump(config))


def simulated_daemon(loaded: LoadedConfig, tmp_path: Path, *, with_logs: bool = False) -> Daemon:
    """A daemon (run it in a task group) cycling on the simulated pool with a placeholder
    pilot; `with_logs` adds the log service, its store fed by the glideins' outputs."""
    pilot = placeholder_pilot(tmp_path)

    def services(runtime: Runtime) -> Subsystems:
        pool = pool_for(runtime)
        assert isinstance(pool, FakePool)
        kit = PilotKit(runtime.state_dir, pilot)
        if not with_logs:
            cycle, routes = build_cycle(runtime, pool=pool, kit=kit)
            return Subsystems(workers=[cycle], routes=routes)
        logs = LogService(runtime)
        cycle, routes = build_cycle(
            runtime,
            pool=pool,
            kit=kit,
            reported=logs.reported,
            ingest=lambda glidein, entry, batch: logs.store.ingest(glidein, entry, batch),
        )
        return Subsystems(
            stores=[logs], workers=[logs.closer, cycle], routes=[*logs.routes(), *routes]
        )

    return Daemon(loaded, clock=SystemClock(), services=services)
