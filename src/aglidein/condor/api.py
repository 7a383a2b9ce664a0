"""What the services ask of HTCondor: Protocols implemented by `bindings` (real pool,
htcondor2 in killable worker processes) and `fake` (the simulated pool).

Every method may raise `CondorError`, or `CondorTimeout` past its deadline. Ads cross
this boundary as plain mappings of attribute name to value (`Expr` for expressions).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aglidein.classad.facade import AdValue

__all__ = [
    "ActResult",
    "Ad",
    "Collector",
    "JobAction",
    "Pool",
    "Schedd",
    "ScheddLocation",
    "SubmitDescription",
    "SubmitResult",
]

Ad = Mapping[str, AdValue]


class JobAction(enum.StrEnum):
    """Actions on jobs (htcondor2.JobAction names)."""

    HOLD = "Hold"
    RELEASE = "Release"
    REMOVE = "Remove"
    REMOVE_X = "RemoveX"  # forcex: forget a job the schedd will not remove


@dataclass(frozen=True, slots=True)
class ScheddLocation:
    """A schedd as the collector knows it: name and sinful address."""

    name: str
    address: str  # e.g. "<127.0.0.1:9618?sock=schedd>" or "host:port"


@dataclass(frozen=True, slots=True)
class SubmitDescription:
    """A submit description as ordered commands (`universe`, `+AglideinId`, ...) plus the
    itemdata rows, one per proc; `queue_vars` names the itemdata columns."""

    commands: tuple[tuple[str, str], ...]
    queue_vars: tuple[str, ...] = ()
    itemdata: tuple[Mapping[str, str], ...] = ()

    def as_dict(self) -> dict[str, str]:
        """The commands as a mapping (htcondor2.Submit takes this)."""
        return dict(self.commands)

    @property
    def count(self) -> int:
        """How many jobs (procs) this description makes."""
        return len(self.itemdata) if self.queue_vars else 1


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The cluster a submission created and how many procs it holds."""

    cluster: int
    first_proc: int
    count: int

    @property
    def job_ids(self) -> tuple[str, ...]:
        """Every `cluster.proc` created."""
        return tuple(
            f"{self.cluster}.{p}" for p in range(self.first_proc, self.first_proc + self.count)
        )


@dataclass(frozen=True, slots=True)
class ActResult:
    """What the schedd did with an action."""

    success: int
    failure: int = 0
    not_found: int = 0


@runtime_checkable
class Schedd(Protocol):
    """A schedd: user schedds for demand, the factory schedd for glideins."""

    @property
    def name(self) -> str: ...

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        """Job ads matching `constraint`, only the `projection` attributes (all if empty)."""
        ...

    async def query_autoclusters(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        """One ad per autocluster (significant attributes + `JobCount`)."""
        ...

    async def submit(self, description: SubmitDescription) -> SubmitResult:
        """Submit one cluster: one proc per itemdata row."""
        ...

    async def act(
        self, action: JobAction, job_ids: Sequence[str], *, reason: str = ""
    ) -> ActResult:
        """Hold, release, remove or removex the given `cluster.proc` ids."""
        ...

    async def edit(self, job_ids: Sequence[str], attr: str, value: str) -> int:
        """Set `attr` to the ClassAd expression `value` on the jobs; the count edited."""
        ...


@runtime_checkable
class Collector(Protocol):
    """The pool collector."""

    async def query_startds(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        """Startd slot ads."""
        ...

    async def locate_schedds(self, names: Sequence[str] = ()) -> list[ScheddLocation]:
        """Schedds by name (every schedd the collector knows when `names` is empty)."""
        ...


@runtime_checkable
class Pool(Protocol):
    """A way to reach a pool: its collector and any schedd."""

    def collector(self) -> Collector: ...

    def schedd(self, location: str | ScheddLocation) -> Schedd:
        """A schedd by `host:port`, sinful string, name (located via the collector) or
        `local`."""
        ...

    async def aclose(self) -> None:
        """Stop worker processes / simulations."""
        ...
