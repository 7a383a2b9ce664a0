"""The contract types between poller, core, provisioner and the status API (DESIGN §1–§5).

Plain frozen data: no I/O, no clock. Times are float seconds since the epoch, passed in.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aglidein.classad.facade import ScalarValue
from aglidein.core.cuts import Cut

__all__ = [
    "LIMIT_REASONS",
    "CredentialState",
    "Cut",
    "CycleInputs",
    "Decision",
    "DemandSnapshot",
    "Downtime",
    "EntryHealth",
    "Glidein",
    "GlideinCensus",
    "GlideinState",
    "HealthState",
    "JobShape",
    "LimitReason",
    "OperatorState",
    "Plan",
    "PolicyMemory",
    "ReleaseRequest",
    "RemoveRequest",
    "ScalarValue",
    "ScheddDemand",
    "ShapeCount",
    "Slot",
    "SlotActivity",
    "SubmitRequest",
    "split_job_key",
]


class LimitReason(enum.StrEnum):
    """Why a decision got fewer glideins than demand asked for (DESIGN §5, closed set)."""

    NO_DEMAND = "no_demand"
    RAMP_UP = "ramp_up"
    GROUP_MAX_RUNNING = "group.max_running"
    GROUP_MAX_IDLE = "group.max_idle"
    GROUP_MAX_IDLE_PER_ENTRY = "group.max_idle_per_entry"
    GROUP_MAX_HELD = "group.max_held"
    GROUP_CURB_IDLE = "group.curb_idle"
    GROUP_CURB_IDLE_PER_ENTRY = "group.curb_idle_per_entry"
    GROUP_CURB_RUNNING = "group.curb_running"
    ENTRY_MAX_GLIDEINS = "entry.max_glideins"
    ENTRY_MAX_IDLE = "entry.max_idle"
    ENTRY_MAX_HELD = "entry.max_held"
    ENTRY_GROUP_MAX_GLIDEINS = "entry.group_limits.max_glideins"
    ENTRY_GROUP_MAX_IDLE = "entry.group_limits.max_idle"
    ENTRY_GROUP_MAX_HELD = "entry.group_limits.max_held"
    ENTRY_ALLOW_GROUPS = "entry.allow_groups"
    FACTORY_MAX_GLIDEINS = "factory.max_glideins"
    FACTORY_MAX_RUNNING = "factory.max_running"
    FACTORY_MAX_IDLE = "factory.max_idle"
    FACTORY_MAX_HELD = "factory.max_held"
    SUBMIT_CAP = "submit_cap"
    BACKOFF = "backoff"
    DISABLED = "disabled"
    DRAINING = "draining"
    STALE_DATA = "stale_data"
    POOL_UNREACHABLE = "pool_unreachable"
    NO_CREDENTIAL = "no_credential"
    CREDENTIAL_EXPIRING = "credential_expiring"
    DOWNTIME = "downtime"


LIMIT_REASONS: tuple[str, ...] = tuple(r.value for r in LimitReason)


# --- demand -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobShape:
    """The values of the job attributes a group's `match` references (names lowercased,
    sorted), plus the resource requests kept for reporting. Jobs of one shape match alike."""

    attrs: tuple[tuple[str, ScalarValue], ...]
    request_cpus: int = 1
    request_memory: int = 0
    request_disk: int = 0
    request_gpus: int = 0

    def as_ad(self) -> dict[str, ScalarValue]:
        """The shape as a job ad (undefined attributes left out)."""
        return {name: value for name, value in self.attrs if value is not None}


@dataclass(frozen=True, slots=True)
class ShapeCount:
    """How many jobs of one shape a schedd holds, idle and running."""

    shape: JobShape
    idle: int
    running: int = 0


@dataclass(frozen=True, slots=True)
class ScheddDemand:
    """One schedd's demand for one group, as last seen.

    `stale_cycles` is 0 when this cycle's query succeeded; otherwise the number of cycles
    the last good `shapes` have been carried over (the policy drops them past
    `factory.stale_cycles`).
    """

    schedd: str
    group: str
    shapes: tuple[ShapeCount, ...]
    ok: bool = True
    stale_cycles: int = 0
    last_error: str | None = None
    taken_at: float = 0.0


@dataclass(frozen=True, slots=True)
class DemandSnapshot:
    """Every (schedd, group) demand of one cycle."""

    schedds: tuple[ScheddDemand, ...] = ()

    def for_group(self, group: str) -> tuple[ScheddDemand, ...]:
        """The demand rows of one group."""
        return tuple(s for s in self.schedds if s.group == group)


# --- glideins -----------------------------------------------------------------------------


class GlideinState(enum.StrEnum):
    """A glidein job's state on the factory schedd (JobStatus)."""

    IDLE = "idle"  # 1
    RUNNING = "running"  # 2
    REMOVED = "removed"  # 3
    COMPLETED = "completed"  # 4
    HELD = "held"  # 5
    TRANSFERRING = "transferring"  # 6
    SUSPENDED = "suspended"  # 7

    @classmethod
    def from_job_status(cls, status: int) -> GlideinState:
        """Map HTCondor's JobStatus number."""
        return _JOB_STATUS.get(status, cls.IDLE)


_JOB_STATUS = {
    1: GlideinState.IDLE,
    2: GlideinState.RUNNING,
    3: GlideinState.REMOVED,
    4: GlideinState.COMPLETED,
    5: GlideinState.HELD,
    6: GlideinState.TRANSFERRING,
    7: GlideinState.SUSPENDED,
}


@dataclass(frozen=True, slots=True)
class Glidein:
    """One glidein grid job on the factory schedd (found by `AglideinFactory`)."""

    glidein_id: str  # AglideinId
    entry: str  # AglideinEntry
    group: str  # AglideinGroup
    batch: str  # AglideinBatch
    cluster: int
    proc: int
    state: GlideinState
    entered_state: float  # EnteredCurrentStatus
    queued: float  # QDate
    credential: str | None = None  # AglideinCredential
    num_system_holds: int = 0
    hold_reason: str | None = None
    hold_reason_code: int | None = None
    hold_reason_subcode: int | None = None
    grid_job_status: str | None = None
    job_start: float | None = None  # JobCurrentStartDate
    grid_job_id: str | None = None  # GridJobId: the job's id at the CE or batch system
    remove_attempts: int = 0  # cycles a removal has been asked and not done
    schedd: str = ""  # the factory schedd that holds it ("" in tests: the first one)

    @property
    def job_id(self) -> str:
        """`cluster.proc` on its factory schedd."""
        return f"{self.cluster}.{self.proc}"

    @property
    def key(self) -> str:
        """`cluster.proc@schedd`: unique across the factory schedds (the ids of removal and
        release requests); `cluster.proc` when the schedd is not known."""
        return f"{self.cluster}.{self.proc}@{self.schedd}" if self.schedd else self.job_id


def split_job_key(key: str) -> tuple[str, str]:
    """(`cluster.proc`, schedd) of a `Glidein.key`; the schedd is "" when not named."""
    job_id, _, schedd = key.partition("@")
    return job_id, schedd


class SlotActivity(enum.StrEnum):
    """What a glidein's startd slot is doing, for counting idle capacity."""

    IDLE = "idle"  # Unclaimed: can take a job
    BUSY = "busy"  # Claimed: runs a job
    RETIRING = "retiring"  # draining/retiring: neither idle capacity nor new work
    BLACK_HOLE = "black_hole"  # closed by the black-hole latch


@dataclass(frozen=True, slots=True)
class Slot:
    """A startd slot a glidein advertises in the pool collector."""

    name: str
    glidein_id: str
    entry: str
    group: str
    activity: SlotActivity
    cpus: int = 1
    memory: int = 0
    gpus: int = 0
    partitionable: bool = False
    machine: str = ""  # Machine: the worker node the glidein runs on


@dataclass(frozen=True, slots=True)
class GlideinCensus:
    """What the pool says about our glideins this cycle."""

    glideins: tuple[Glidein, ...] = ()
    slots: tuple[Slot, ...] = ()
    factory_ok: bool = True  # the factory schedd answered
    collector_ok: bool = True  # the collector answered
    last_error: str | None = None
    taken_at: float = 0.0
    collector_error: str | None = None  # why the collector did not answer
    factory_error: str | None = None  # why the factory schedd did not answer
    # entry -> glideins of the old (GlideinWMS) factory in the collector (migration)
    old_glideins: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # factory schedd -> why it did not answer; its glideins above are the last known ones
    # (still counted against the limits, never acted on until it answers again)
    stale_schedds: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# --- entry health and credentials -------------------------------------------------------


class OperatorState(enum.StrEnum):
    """What an operator asked for an entry (persisted)."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    DRAINING = "draining"


class HealthState(enum.StrEnum):
    """An entry's effective health."""

    OK = "ok"
    BACKOFF = "backoff"
    DISABLED = "disabled"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class EntryHealth:
    """Backoff bookkeeping and operator state of one entry (persisted across restarts)."""

    entry: str
    operator: OperatorState = OperatorState.ENABLED
    drain_hard: bool = False
    backoff_until: float | None = None
    failures: int = 0  # consecutive failures behind the current backoff
    last_failure: float | None = None
    last_failure_reason: str | None = None
    last_success: float | None = None

    def state(self, now: float, *, config_enabled: bool = True) -> HealthState:
        """Effective health at `now`; config `enabled: false` always wins."""
        if not config_enabled or self.operator is OperatorState.DISABLED:
            return HealthState.DISABLED
        if self.operator is OperatorState.DRAINING:
            return HealthState.DRAINING
        if self.backoff_until is not None and now < self.backoff_until:
            return HealthState.BACKOFF
        return HealthState.OK


@dataclass(frozen=True, slots=True)
class CredentialState:
    """What the renewer knows of one configured credential."""

    name: str
    type: str
    expires: float | None  # None: unknown or does not expire (ssh keys)
    refreshable: bool  # has a refresh_command (or OAuth2 client)
    ok: bool = True  # present and valid
    last_renewal: float | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Downtime:
    """An operator's scheduled downtime: no new glideins, idle ones removed (persisted).

    `entry` None covers every entry; `group` None every group. `end` None: until ended.
    """

    id: int
    entry: str | None
    group: str | None
    start: float
    end: float | None
    comment: str
    created: float = 0.0

    def active(self, now: float) -> bool:
        """Whether the downtime is in force at `now` (start inclusive, end exclusive)."""
        return self.start <= now and (self.end is None or now < self.end)

    def covers(self, entry: str, group: str) -> bool:
        """Whether the downtime concerns glideins of (group, entry)."""
        return (self.entry is None or self.entry == entry) and (
            self.group is None or self.group == group
        )


# --- the cycle ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyMemory:
    """What the policy carries from one cycle to the next (kept by the daemon, pure data)."""

    zero_demand_cycles: Mapping[tuple[str, str], int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # effective idle demand per (group, entry) last cycle: what is still idle now is "old"
    idle_demand: Mapping[tuple[str, str], int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class CycleInputs:
    """Everything `core.policy.decide` looks at."""

    demand: DemandSnapshot
    census: GlideinCensus
    health: Mapping[str, EntryHealth] = field(default_factory=lambda: MappingProxyType({}))
    credentials: Mapping[str, CredentialState] = field(default_factory=lambda: MappingProxyType({}))
    memory: PolicyMemory = field(default_factory=PolicyMemory)
    cycle: int = 0
    downtimes: tuple[Downtime, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided for one (group, entry) pair, and every rule that cut it."""

    group: str
    entry: str
    matching_jobs: int = 0  # idle jobs matching this entry (each counts fully)
    unique_share: float = 0.0  # idle jobs matching, 1/N each when they match N entries
    only_here: int = 0  # idle jobs that match this entry only
    running_jobs: int = 0  # jobs running on this entry's glideins
    idle_glideins: int = 0
    running_glideins: int = 0
    held_glideins: int = 0
    requested_idle: int = 0  # target idle glideins
    submit: int = 0  # new glideins to submit this cycle
    max_glideins: int = 0
    remove_idle: int = 0  # excess idle glideins to remove this cycle
    limited_by: tuple[str, ...] = ()
    partial_fit: int = 0  # idle jobs that only fit partially-used slots
    downtime: str | None = None  # the comment of the downtime in force, if any
    old_glideins: int = 0  # the old factory's glideins at this entry (count against it)
    cuts: tuple[Cut, ...] = ()  # the reasons of limited_by with their amounts, in order

    def as_dict(self) -> dict[str, object]:
        """JSON shape of `plan --json` and `/api/v1/status`: every field, `limited_by` a
        list of reasons, `cuts` a list of `Cut.as_dict()`."""
        out: dict[str, object] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "cuts"
        }
        out["limited_by"] = list(self.limited_by)
        out["cuts"] = [cut.as_dict() for cut in self.cuts]
        return out


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """Submit `count` new glideins for (group, entry)."""

    entry: str
    group: str
    count: int


@dataclass(frozen=True, slots=True)
class RemoveRequest:
    """Remove these glideins (`Glidein.key`s: `cluster.proc@schedd`); `force` = removex."""

    entry: str
    job_ids: tuple[str, ...]
    reason: str
    force: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    """Release these held glideins (`Glidein.key`s)."""

    entry: str
    job_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The output of one decision cycle: decisions for display, actions for the provisioner."""

    cycle: int
    now: float
    decisions: tuple[Decision, ...] = ()
    submits: tuple[SubmitRequest, ...] = ()
    removals: tuple[RemoveRequest, ...] = ()
    releases: tuple[ReleaseRequest, ...] = ()
    frozen: bool = False  # pool_unreachable: no submissions or removals this cycle
    memory: PolicyMemory = field(default_factory=PolicyMemory)

    def for_entry(self, entry: str) -> tuple[Decision, ...]:
        """The decisions that concern one entry."""
        return tuple(d for d in self.decisions if d.entry == entry)
