"""The GlideinWMS topology on one host: a VO pool and a site, each its own HTCondor.

- **vo**: collector + negotiator + schedd. User jobs wait in its schedd; its POOL key is
  aglidein's `pool.signing_key`; glidein startds join its collector; the same schedd is
  aglidein's factory schedd, whose gridmanager sends glideins to the site. `vo_schedds`
  adds more schedds to it (`PoolSpec.extra_schedds`), e.g. as `pool.factory_schedds`.
- **site**: collector + negotiator + schedd + startd (one partitionable slot): the CE and
  batch system an entry with `gridtype: condor` points at (`grid_resource`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aglidein.condor.personal.instance import PoolInstance, PoolSpec
from aglidein.condor.personal.processes import kill_leftovers
from aglidein.condor.personal.release import CondorRelease

__all__ = ["Topology", "start_topology", "sweep_stale"]

BASE_PREFIX = "agp-"  # /tmp/agp-XXXX: short, unix socket paths live below it
VO_TRUST = "vo.aglidein.test"
SITE_TRUST = "site.aglidein.test"


@dataclass
class Topology:
    """A running VO pool and site; `stop()` leaves no process behind."""

    base: Path
    vo: PoolInstance
    site: PoolInstance
    stopped: bool = field(default=False, init=False)

    @property
    def grid_resource(self) -> str:
        """The HTCondor-C `grid_resource` of the site (`condor <schedd> <collector>`)."""
        return f"condor {self.site.schedd_name} {self.site.collector}"

    @property
    def gatekeeper(self) -> str:
        """The site as an aglidein `gridtype: condor` entry's `gatekeeper`."""
        return f"{self.site.schedd_name} {self.site.collector}"

    def stop(self, *, keep: bool | None = None) -> None:
        """Stop both instances (idempotent), then remove the directory unless `keep`
        (default: AGLIDEIN_KEEP_POOL set). A kept directory loses its `owner.pid`, so no
        later `sweep_stale` removes it: its logs stay until removed by hand."""
        if self.stopped:  # the caller's stop, then atexit's
            return
        for instance in (self.site, self.vo):
            with contextlib.suppress(Exception):
                instance.request_stop()
        for instance in (self.site, self.vo):
            with contextlib.suppress(Exception):
                instance.stop()
        kill_leftovers(self.base)
        if keep is None:
            keep = bool(os.environ.get("AGLIDEIN_KEEP_POOL"))
        if keep:
            (self.base / "owner.pid").unlink(missing_ok=True)
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        self.stopped = True


def start_topology(
    release: CondorRelease,
    *,
    timeout: float = 120,
    keep: bool | None = None,
    vo_schedds: tuple[str, ...] = (),
) -> Topology:
    """Start the VO pool (with `vo_schedds`: local names of more schedds) and the site
    under a fresh /tmp/agp-* directory and wait for both.

    On any failure everything started is stopped before the error propagates; an atexit
    hook stops the topology too if the caller never does. `keep`: as `Topology.stop`."""
    sweep_stale()
    base = Path(tempfile.mkdtemp(prefix=BASE_PREFIX, dir="/tmp"))
    base.chmod(0o755)
    (base / "owner.pid").write_text(f"{os.getpid()}\n")
    vo = PoolInstance(
        PoolSpec(
            name="vo",
            daemons=("COLLECTOR", "NEGOTIATOR", "SCHEDD"),
            trust_domain=VO_TRUST,
            extra_schedds=vo_schedds,
        ),
        release,
        base / "vo",
    )
    site = PoolInstance(
        PoolSpec(
            name="site",
            daemons=("COLLECTOR", "NEGOTIATOR", "SCHEDD", "STARTD"),
            trust_domain=SITE_TRUST,
        ),
        release,
        base / "site",
    )
    topology = Topology(base=base, vo=vo, site=site)
    atexit.register(topology.stop)
    try:
        vo.start()
        site.start()
        vo.wait_ready(timeout)
        site.wait_ready(timeout)
    except BaseException:
        topology.stop(keep=keep)
        raise
    return topology


def sweep_stale(tmp: Path = Path("/tmp")) -> list[Path]:
    """Stop and remove topologies whose owning process is gone (a killed test session)."""
    swept = []
    for base in tmp.glob(f"{BASE_PREFIX}*"):
        try:
            owner = int((base / "owner.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        kill_leftovers(base)
        shutil.rmtree(base, ignore_errors=True)
        swept.append(base)
    return swept
