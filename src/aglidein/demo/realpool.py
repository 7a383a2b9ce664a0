"""What `aglidein demo --real-pool` prepares: HTCondor found, a VO pool and a site started
on 127.0.0.1 (`aglidein.condor.personal`), a factory config for them, and the user jobs
it submits to the VO schedd.

The topology is the real-pool tests': the VO schedd holds the user jobs and is the
factory schedd, whose gridmanager sends the glideins to the site (HTCondor-C); a
glidein's startd joins the VO collector with the IDTOKEN aglidein minted, and the
negotiator matches the user jobs to it.
"""

from __future__ import annotations

import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aglidein.condor.personal.instance import PoolError, PoolInstance
from aglidein.condor.personal.release import (
    HOW_TO_GET,
    CondorRelease,
    find_release,
    named_tarball,
)
from aglidein.condor.personal.topology import Topology
from aglidein.config import LoadedConfig, load_config
from aglidein.errors import AglideinError
from aglidein.logkeys import atomic_write

__all__ = [
    "ENTRIES",
    "FACTORY_NAME",
    "NoCondor",
    "RealDemoSetup",
    "UserJobStats",
    "UserJobs",
    "find_condor",
    "prepare_real",
]

FACTORY_NAME = "demo-real"
ENTRIES = ("SITE_A", "SITE_B")  # two entries at the one site: its schedd, two names
GLIDEIN_SLOT = re.compile(r"@glidein_([0-9a-f-]{36})@")
_JOB_ATTRS = ["ClusterId", "ProcId", "JobStatus", "RemoteHost", "LastRemoteHost", "ExitCode"]


class NoCondor(AglideinError):
    """No HTCondor to start the pool from, or no tarball for the glideins."""


def find_condor(tarball: Path | None) -> tuple[CondorRelease, Path]:
    """The HTCondor the daemons run from (PATH, else `tarball` / AGLIDEIN_CONDOR_TARBALL)
    and the tarball the glideins unpack at the site; NoCondor saying how to get one."""
    try:
        release = find_release(tarball)
        glidein_tarball = named_tarball(tarball)
    except FileNotFoundError as exc:
        raise NoCondor(f"{exc}; {HOW_TO_GET}") from None
    except (OSError, tarfile.TarError) as exc:
        raise NoCondor(f"{tarball or 'the HTCondor tarball'}: cannot unpack: {exc}") from None
    if release is None:
        raise NoCondor(HOW_TO_GET)
    if glidein_tarball is None:
        raise NoCondor(
            "HTCondor is on PATH, but the glideins need an HTCondor tarball to unpack at "
            "the site: pass --condor-tarball <htcondor-*.tar.gz> (or set AGLIDEIN_CONDOR_TARBALL)"
        )
    return release, glidein_tarball.resolve()


@dataclass(frozen=True)
class RealDemoSetup:
    """A prepared real demo: the running pools, the factory's config and where it lives."""

    topology: Topology
    state_dir: Path
    config_file: Path
    loaded: LoadedConfig
    port: int

    @property
    def base_url(self) -> str:
        """The daemon's HTTP address."""
        return f"http://127.0.0.1:{self.port}"


def prepare_real(
    topology: Topology, glidein_tarball: Path, port: int, *, root: bool
) -> RealDemoSetup:
    """Write the factory's config for `topology` (its state dir lives under the topology's
    directory, which the pool user can read: the gridmanager reads the pilot inputs as
    the job owner) and validate it."""
    vo = topology.vo
    state_dir = topology.base / "factory"
    entry_attrs = {"GLIDEIN_CPUS": 1, "GLIDEIN_MaxMemMBs": 512, "GLIDEIN_Max_Idle": 20}
    factory: dict[str, Any] = {
        "name": FACTORY_NAME,
        "state_dir": str(state_dir),
        "cycle": "5s",
        "shutdown_grace": "10s",
        "backoff": {"initial": "30s", "max": "1m", "reset_after": "5m"},
        "submit": {"cluster_size": 2, "max_per_cycle": 4, "remove_per_cycle": 5},
        "glidein": {
            "max_walltime": "1h",
            "retire_after": "30m",
            "condor_tarball": str(glidein_tarball),
            "report_timeout": "10m",
        },
    }
    if root:
        factory["job_owner"] = vo.user  # the schedd never lets root own a job
    data = {
        "factory": factory,
        "pool": {
            "collector": vo.collector,
            "trust_domain": vo.trust_domain,
            "signing_key": str(vo.signing_key),
            "factory_schedd": "local",
        },
        "http": {"listen": [f"127.0.0.1:{port}"]},
        "groups": [
            {
                "name": "main",
                "schedds": [vo.schedd_name],
                "job_constraint": f'AglideinDemo =?= "{FACTORY_NAME}"',
                "match": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
                "limits": {"max_idle_per_entry": 2, "reserve_idle": 0, "ramp_up_attenuation": 1},
            }
        ],
        "entries": [
            {
                "name": name,
                "gridtype": "condor",
                "gatekeeper": topology.gatekeeper,
                "auth": {"method": "idtoken"},
                "attrs": {"GLIDEIN_Site": name, **entry_attrs},
            }
            for name in ENTRIES
        ],
    }
    config_file = topology.base / "aglidein.yaml"
    header = "# Written by `aglidein demo --real-pool` for the pools under this directory\n"
    body = yaml.safe_dump(data, sort_keys=False)
    atomic_write(config_file, (header + body).encode(), 0o644)
    return RealDemoSetup(
        topology=topology,
        state_dir=state_dir,
        config_file=config_file,
        loaded=load_config(config_file),
        port=port,
    )


@dataclass(frozen=True)
class UserJobStats:
    """The demo's user jobs as the VO schedd sees them."""

    submitted: int = 0
    idle: int = 0
    running: int = 0
    completed: int = 0
    on_glideins: int = 0  # completed on a glidein slot
    glideins_used: frozenset[str] = frozenset()  # AglideinIds the completed jobs ran on
    slots: int = 0  # this factory's glideins with a startd in the VO collector
    error: str | None = None


@dataclass
class UserJobs:
    """The demo's workload: short user jobs on the VO schedd whose Requirements name the
    entry attribute GLIDEIN_Site, so only this factory's glideins can run them."""

    vo: PoolInstance
    seconds: int = 15  # each job sleeps this long
    clusters: list[int] = field(default_factory=list)
    submitted: int = 0

    def submit(self, count: int) -> None:
        """Queue `count` more jobs (blocking: condor_submit)."""
        cluster, procs = self.vo.submit(
            {
                "executable": "/bin/sh",
                "arguments": f"\"-c 'echo a user job on a glidein; sleep {self.seconds}'\"",
                "+AglideinDemo": f'"{FACTORY_NAME}"',
                "+DESIRED_Sites": f'"{",".join(ENTRIES)}"',
                "requirements": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)"
                f' && TARGET.AglideinFactory =?= "{FACTORY_NAME}"',
                "request_cpus": "1",
                "request_memory": "64",
                "request_disk": "1024",
                "output": "demo.$(Cluster).$(Process).out",
                "error": "demo.$(Cluster).$(Process).err",
                "log": "demo.log",
                "should_transfer_files": "YES",
            },
            count=count,
        )
        self.clusters.append(cluster)
        self.submitted += procs

    def stats(self) -> UserJobStats:
        """Count the jobs by state and the completed ones by where they ran (blocking)."""
        ours = f'AglideinDemo =?= "{FACTORY_NAME}"'
        try:
            queued = Counter(int(j["JobStatus"]) for j in self.vo.jobs(ours, ["JobStatus"]))
            done = self.vo.history(f"{ours} && JobStatus == 4", _JOB_ATTRS)
            slots = self.vo.startds(f'AglideinFactory =?= "{FACTORY_NAME}"')
        except (PoolError, ValueError) as exc:
            return UserJobStats(submitted=self.submitted, error=str(exc))
        glideins = [GLIDEIN_SLOT.search(str(j.get("LastRemoteHost", ""))) for j in done]
        used = frozenset(m.group(1) for m in glideins if m)
        return UserJobStats(
            submitted=self.submitted,
            idle=queued[1],
            running=queued[2],
            completed=len(done),
            on_glideins=sum(1 for m in glideins if m),
            glideins_used=used,
            slots=len({str(ad.get("AglideinId")) for ad in slots}),
        )
