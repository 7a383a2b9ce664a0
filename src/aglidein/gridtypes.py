"""The gridtypes an entry can have, as one registry: what each needs in the config, how
its glideins are submitted (grid resource, walltime, resource requests) and which
GlideinWMS gridtype imports as it.

A new gridtype is one name in `GridtypeName` and one row in `GRIDTYPES`; config
validation (config.py), submit rendering (core/submit.py), health (core/health.py) and
the GlideinWMS import (gwms/entries.py) read the row. It lives in Base, not core,
because config validation reads it and config may import nothing above Base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BATCH_SYSTEMS",
    "GRIDTYPES",
    "BatchSystem",
    "Gridtype",
    "GridtypeName",
    "ResourceStyle",
    "from_gwms",
    "gridtype",
]

GridtypeName = Literal["condor", "batch", "arc", "local", "unsupported"]
BatchSystem = Literal["slurm", "pbs", "lsf", "sge", "condor"]
BATCH_SYSTEMS: tuple[BatchSystem, ...] = ("slurm", "pbs", "lsf", "sge", "condor")

# How a grid job asks the site for the node the entry advertises: HTCondor-CE's route
# attributes plus the remote job's own requests ("htcondor_ce"), or request_* commands
# that the blahp and ARC's ADL translate ("request").
ResourceStyle = Literal["htcondor_ce", "request"]

# (gatekeeper, batch_system, ssh_key) -> the submit's grid_resource
GridResource = Callable[[str, str | None, str | None], str]


def _condor_resource(gatekeeper: str, _batch: str | None, _key: str | None) -> str:
    parts = gatekeeper.split()
    host = parts[0]
    collector = parts[1] if len(parts) > 1 else f"{host.split(':')[0]}:9619"
    return f"condor {host} {collector}"


def _batch_resource(gatekeeper: str, batch_system: str | None, ssh_key: str | None) -> str:
    resource = f"batch {batch_system} {gatekeeper}"
    return f"{resource} --rgahp-key {ssh_key}" if ssh_key else resource


def _arc_resource(gatekeeper: str, _batch: str | None, _key: str | None) -> str:
    return f"arc {gatekeeper}"


@dataclass(frozen=True)
class Gridtype:
    """One gridtype's rules (a row of the registry)."""

    name: GridtypeName
    # grid_resource of its glideins; None: the local universe on the factory host
    grid_resource: GridResource | None
    needs_gatekeeper: bool
    needs_auth: bool
    # False: kept in the config (imported, documented) but never submitted
    submittable: bool = True
    # the gatekeeper is a remote login (user@host), with a batch_system behind it
    batch: bool = False
    # the walltime submit command and its unit in seconds (None: none sent)
    walltime: tuple[str, int] | None = None
    resources: ResourceStyle | None = None
    # the first word of the GlideinWMS gridtype that imports as this one
    gwms_name: str | None = None
    # GlideinWMS auth_method key_pair means the SSH key of the remote login (BOSCO)
    gwms_key_pair_is_ssh: bool = False

    @property
    def local(self) -> bool:
        """Its glideins run on the factory host (local universe, no transfer)."""
        return self.grid_resource is None and self.submittable

    def walltime_commands(self, seconds: int) -> list[tuple[str, str]]:
        """The submit command limiting a glidein's walltime to `seconds` (rounded up)."""
        if self.walltime is None:
            return []
        command, unit = self.walltime
        return [(command, str(-(-seconds // unit)))]


GRIDTYPES: dict[str, Gridtype] = {
    row.name: row
    for row in (
        Gridtype(
            "condor",
            _condor_resource,
            needs_gatekeeper=True,
            needs_auth=True,
            walltime=("+maxWallTime", 60),  # minutes, as HTCondor-CE reads it
            resources="htcondor_ce",
            gwms_name="condor",
        ),
        Gridtype(
            "batch",
            _batch_resource,
            needs_gatekeeper=True,
            needs_auth=True,
            batch=True,
            walltime=("batch_runtime", 1),
            resources="request",
            gwms_name="batch",
            gwms_key_pair_is_ssh=True,
        ),
        Gridtype(
            "arc",
            _arc_resource,
            needs_gatekeeper=True,
            needs_auth=True,
            walltime=("+maxWallTime", 60),
            resources="request",
            gwms_name="arc",
        ),
        Gridtype("local", None, needs_gatekeeper=False, needs_auth=False),
        Gridtype("unsupported", None, needs_gatekeeper=True, needs_auth=False, submittable=False),
    )
}


def gridtype(name: str) -> Gridtype:
    """The registry row of `name`; KeyError naming the known ones."""
    try:
        return GRIDTYPES[name]
    except KeyError:
        raise KeyError(f"unknown gridtype {name!r} (known: {', '.join(GRIDTYPES)})") from None


def from_gwms(raw: str) -> tuple[Gridtype, BatchSystem | None] | None:
    """The gridtype (and batch system) a GlideinWMS `gridtype` attribute imports as;
    None when aglidein has no equivalent."""
    words = raw.split()
    if not words:
        return None
    kind = words[0].lower()
    for row in GRIDTYPES.values():
        if row.gwms_name != kind:
            continue
        if not row.batch:
            return (row, None) if len(words) == 1 else None
        system = words[1].lower() if len(words) == 2 else ""
        for known in BATCH_SYSTEMS:
            if known == system:
                return row, known
        return None
    return None
