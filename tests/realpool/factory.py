"""`aglidein run` against the real-pool topology, as an operator would start it.

One factory per test (its own name, state dir and port), talking to the VO schedd as its
factory schedd (CONDOR_CONFIG of the VO pool) and sending glideins to the site through the
real gridmanager. Short intervals everywhere: a cycle every few seconds, glideins that
retire after a short idle time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.daemon_helpers import free_port
from tests.realpool.pool import PoolError
from tests.realpool.release import find_tarball
from tests.realpool.topology import Topology

__all__ = ["Factory", "entry_yaml", "start_factory", "user_jobs", "wait_for"]

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    what: str | Callable[[], str],
    every: float = 2.0,
) -> T:
    """Poll `probe` until it returns something truthy; AssertionError naming `what` (a
    callable is asked at the timeout, e.g. for a log tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            text = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
        time.sleep(every)


def entry_yaml(
    name: str,
    topology: Topology,
    *,
    max_idle_s: int = 40,
    extra: str = "",
    cpus: int = 1,
    auth: str = "{method: idtoken}",
    attrs: str = "",
) -> str:
    """A `gridtype: condor` entry at the site (HTCondor-C through the VO gridmanager)."""
    return (
        f"  - name: {name}\n"
        "    gridtype: condor\n"
        f"    gatekeeper: {topology.gatekeeper}\n"
        f"    auth: {auth}\n"
        f"    attrs: {{GLIDEIN_Site: {name}, GLIDEIN_CPUS: {cpus}, GLIDEIN_MaxMemMBs: 512,"
        f" GLIDEIN_Max_Idle: {max_idle_s}{attrs}}}\n"
        f"{extra}"
    )


@dataclass
class Factory:
    """A running `aglidein run` subprocess and what it was started with."""

    name: str
    config: Path
    state_dir: Path
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the daemon and wait until it serves /readyz."""
        log = self.log_path.with_suffix(f".{len(self._logs)}.log")
        self._logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aglidein", "run", "--config", str(self.config)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._ready, 60, f"aglidein ready; log:\n{self.log()}", every=0.5)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"aglidein exited {self.process.returncode}:\n{self.log()}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/readyz", timeout=5).status_code == 200
        return False

    def log(self) -> str:
        """Every run's output, oldest first."""
        return "\n".join(p.read_text(errors="replace") for p in self._logs if p.exists())

    def events(self, event: str) -> list[dict[str, Any]]:
        """The structlog JSON events named `event` from every run so far."""
        import json

        out = []
        for line in self.log().splitlines():
            if f'"{event}"' in line:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("event") == event:
                        out.append(record)
        return out

    def get(self, path: str, **params: Any) -> Any:
        """A JSON API answer."""
        response = httpx.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0 when absent)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for line in text.splitlines():
            match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
            if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
                return float(match.group(2))
        return 0.0

    def run_cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Another aglidein command with this factory's config and environment."""
        return subprocess.run(
            [sys.executable, "-m", "aglidein", *argv, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def kill9(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def cleanup(self, topology: Topology) -> None:
        """Stop, remove this factory's glideins and user jobs, and wait until its slots
        have left the VO collector (the session's pools are shared by every test)."""
        self.stop()
        vo = topology.vo
        ours = f'AglideinFactory == "{self.name}"'
        for schedd in vo.schedd_names:
            vo.run("condor_rm", "-name", schedd, "-constraint", ours, check=False)
        vo.run("condor_rm", "-constraint", f'AglideinTest == "{self.name}"', check=False)

        def gone() -> bool:
            queues = (vo.jobs(ours, ["ClusterId"], schedd=s) for s in vo.schedd_names)
            return not any(queues) and not vo.startds(ours)

        with contextlib.suppress(AssertionError, PoolError):
            wait_for(
                gone,
                90,
                "this factory's glideins to leave",
            )

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 30 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_factory(
    tmp_path: Path,
    topology: Topology,
    entries: str,
    *,
    cycle: str = "4s",
    group_limits: str = "max_idle_per_entry: 4, reserve_idle: 0, ramp_up_attenuation: 1",
    factory_extra: str = "",
    tail: str = "",
    start: bool = True,
    factory_schedds: Sequence[str] = (),
) -> Factory:
    """Write a config for `entries` (YAML list items, then `tail`: more top-level
    sections) and start `aglidein run` on it. `factory_schedds`: schedd names for
    `pool.factory_schedds` (default: the VO schedd, `factory_schedd: local`)."""
    tarball = find_tarball()
    assert tarball is not None, "the glidein needs an HTCondor tarball (--condor-tarball)"
    vo = topology.vo
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    # the gridmanager reads the pilot files as the job owner: pytest's tmp_path (root's,
    # 0700) is out of its reach, the topology's directory is not
    state_dir = topology.base / name
    port = free_port()
    owner = f"  job_owner: {vo.user}\n" if os.geteuid() == 0 else ""
    where = (
        f"  factory_schedds: [{', '.join(factory_schedds)}]\n"
        if factory_schedds
        else "  factory_schedd: local\n"
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        "factory:\n"
        f"  name: {name}\n"
        f"  state_dir: {state_dir}\n"
        f"  cycle: {cycle}\n"
        "  shutdown_grace: 10s\n"
        f"{owner}"
        "  backoff: {initial: 30s, max: 1m, reset_after: 5m}\n"
        "  submit: {cluster_size: 2, max_per_cycle: 4, release_per_cycle: 5,"
        " remove_per_cycle: 5}\n"
        "  glidein: {max_walltime: 1h, retire_after: 30m,"
        f" condor_tarball: {tarball}, report_timeout: 10m}}\n"
        f"{factory_extra}"
        "pool:\n"
        f"  collector: {vo.collector}\n"
        f"  trust_domain: {vo.trust_domain}\n"
        f"  signing_key: {vo.signing_key}\n"
        f"{where}"
        "http:\n"
        f"  listen: ['127.0.0.1:{port}']\n"
        "groups:\n"
        "  - name: main\n"
        f"    schedds: ['{vo.schedd_name}']\n"
        f"    job_constraint: 'AglideinTest =?= \"{name}\"'\n"
        "    match: 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)'\n"
        f"    limits: {{{group_limits}}}\n"
        f"entries:\n{entries}"
        f"{tail}"
    )
    factory = Factory(
        name=name,
        config=config,
        state_dir=state_dir,
        port=port,
        env=vo.env,
        log_path=tmp_path / "aglidein",
    )
    if start:
        factory.start()
    return factory


def user_jobs(
    factory: Factory, topology: Topology, sites: str, count: int, *, command: str = "sleep 3"
) -> int:
    """Submit `count` user jobs to the VO schedd that may only run on glideins of `sites`
    (their Requirements name the entry attribute GLIDEIN_Site); the cluster id."""
    cluster, _ = topology.vo.submit(
        {
            "executable": "/bin/sh",
            "arguments": f"\"-c '{command}'\"",
            "+AglideinTest": f'"{factory.name}"',
            "+DESIRED_Sites": f'"{sites}"',
            # only this test's glideins: other tests' may still be in the VO pool
            "requirements": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)"
            f' && TARGET.AglideinFactory =?= "{factory.name}"',
            "request_cpus": "1",
            "request_memory": "64",
            "request_disk": "1024",
            "output": f"{factory.name}.$(Process).out",
            "error": f"{factory.name}.$(Process).err",
            "log": f"{factory.name}.log",
            "should_transfer_files": "YES",
        },
        count=count,
    )
    return cluster
