"""The configuration's typed models (DESIGN §4): pydantic v2, frozen, unknown keys rejected.

Loading, locating errors and cross-checks live in `aglidein.config`, which re-exports these.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from aglidein.config_types import (
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_SIZE,
    AttrScalar,
    ClassAdExpr,
    ConfigModel,
    Duration,
    Name,
    NonNegInt,
    PosInt,
    Size,
)
from aglidein.gridtypes import BatchSystem, GridtypeName, gridtype

__all__ = [
    "MAX_COUNT",
    "MAX_DURATION_S",
    "MAX_SIZE",
    "START_EXPR_ATTR",
    "AuthConfig",
    "BackoffSettings",
    "ClassAdExpr",
    "Config",
    "CredentialConfig",
    "Deadlines",
    "Duration",
    "EntryConfig",
    "EntryLimits",
    "FactoryConfig",
    "FactoryLimits",
    "GlideinOverride",
    "GlideinSettings",
    "Gridtype",
    "GroupAtEntryLimits",
    "GroupConfig",
    "GroupLimits",
    "HttpConfig",
    "LogsConfig",
    "MigrationConfig",
    "OAuth2Config",
    "PoolConfig",
    "RateLimit",
    "Size",
    "SubmitOverride",
    "SubmitSettings",
    "TlsConfig",
]

_Model = ConfigModel


class Deadlines(_Model):
    schedd_query: Duration = 30.0
    collector_query: Duration = 30.0
    submit: Duration = 60.0
    act: Duration = 30.0


class BackoffSettings(_Model):
    initial: Duration = 300.0
    max: Duration = 3 * 3600.0
    reset_after: Duration = 3600.0
    # a hold storm: at least hold_storm_min (or all, if fewer) of an entry's glideins, and
    # at least hold_storm_fraction of them, went on hold within hold_storm_window
    hold_storm_min: PosInt = 3
    hold_storm_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    hold_storm_window: Duration = 900.0


class FactoryLimits(_Model):
    max_glideins: NonNegInt = 100_000
    max_running: NonNegInt = 100_000  # idle and running, like groups[].limits.max_running
    max_idle: NonNegInt = 5_000
    max_held: NonNegInt = 5_000


class SubmitSettings(_Model):
    cluster_size: PosInt = 10
    max_per_cycle: NonNegInt = 100
    release_per_cycle: NonNegInt = 20
    remove_per_cycle: NonNegInt = 5


class SubmitOverride(_Model):
    cluster_size: PosInt | None = None
    max_per_cycle: NonNegInt | None = None
    release_per_cycle: NonNegInt | None = None
    remove_per_cycle: NonNegInt | None = None


class GlideinSettings(_Model):
    max_walltime: Duration = 48 * 3600.0
    retire_after: Duration = 6 * 3600.0
    condor_tarball: str | None = None
    # a running glidein with neither a startd slot nor a log record after this long
    # "never reported"; many of them back the entry off
    report_timeout: Duration = 1800.0


class GlideinOverride(_Model):
    max_walltime: Duration | None = None
    retire_after: Duration | None = None
    condor_tarball: str | None = None
    report_timeout: Duration | None = None


class FactoryConfig(_Model):
    name: Name
    state_dir: str
    cycle: Duration = 60.0
    shutdown_grace: Duration = 30.0
    stale_cycles: NonNegInt = 3
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    job_owner: str | None = None
    deadlines: Deadlines = Deadlines()
    backoff: BackoffSettings = BackoffSettings()
    limits: FactoryLimits = FactoryLimits()
    submit: SubmitSettings = SubmitSettings()
    glidein: GlideinSettings = GlideinSettings()

    @field_validator("cycle")
    @classmethod
    def _cycle_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value


class PoolConfig(_Model):
    collector: str
    trust_domain: str
    signing_key: str
    glidein_identity: str | None = None
    factory_schedd: str = "local"
    factory_schedds: list[str] | None = Field(default=None, min_length=1)
    simulate: str | None = None

    @property
    def identity(self) -> str:
        """The IDTOKEN `sub` of glideins."""
        return self.glidein_identity or f"glidein@{self.trust_domain}"

    @property
    def schedds(self) -> tuple[str, ...]:
        """The factory schedds in order: `factory_schedds`, else the one `factory_schedd`."""
        return tuple(self.factory_schedds or (self.factory_schedd,))

    @model_validator(mode="after")
    def _one_schedd_key(self) -> PoolConfig:
        if self.factory_schedds is not None and "factory_schedd" in self.model_fields_set:
            raise ValueError(
                "pool.factory_schedd and pool.factory_schedds are both set: "
                "keep factory_schedds (a list) and drop factory_schedd"
            )
        names = self.factory_schedds or []
        for name in names:
            if not name.strip():
                raise ValueError("pool.factory_schedds: an empty schedd name")
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"pool.factory_schedds: {doubles[0]!r} is listed twice")
        return self


class TlsConfig(_Model):
    cert: str
    key: str


_LISTEN = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class HttpConfig(_Model):
    listen: list[str] = Field(default_factory=lambda: ["127.0.0.1:8080"], min_length=1)
    public_url: str | None = None
    tls: TlsConfig | None = None
    read_token_file: str | None = None
    admin_token_file: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen_host_port(cls, value: list[str]) -> list[str]:
        for item in value:
            match = _LISTEN.match(item)
            if not match or not 0 <= int(match.group(2)) <= 65535:
                raise ValueError(f"{item!r} is not HOST:PORT")
        return value

    def listen_addresses(self) -> list[tuple[str, int]]:
        """(host, port) pairs, IPv6 brackets removed."""
        out = []
        for item in self.listen:
            host, _, port = item.rpartition(":")
            out.append((host.strip("[]"), int(port)))
        return out

    def base_url(self) -> str:
        """Where glideins and the CLI reach us."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = self.listen_addresses()[0]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


class RateLimit(_Model):
    records_per_s: PosInt = 5000
    burst: PosInt = 20000


class LogsConfig(_Model):
    store: Literal["sqlite"] = "sqlite"
    retention: Duration = 30 * 86400.0
    max_bytes: Size = 50 * 1024**3
    fsync: Literal["normal", "full"] = "normal"
    rate_limit: RateLimit = RateLimit()
    record_max_bytes: Annotated[Size, Field(le=1024 * 1024)] = 16 * 1024
    record_max_fields: Annotated[int, Field(ge=1, le=10_000)] = 64


class GroupLimits(_Model):
    max_running: NonNegInt = 100_000
    max_idle: NonNegInt = 1000
    max_idle_per_entry: NonNegInt = 100
    max_held: NonNegInt = 1000
    curb_idle: NonNegInt = 200
    curb_idle_per_entry: NonNegInt = 5
    curb_running: NonNegInt = 90_000
    ramp_up_attenuation: Annotated[float, Field(ge=1, le=1000)] = 3
    reserve_idle: NonNegInt = 5


class GroupConfig(_Model):
    name: Name
    schedds: list[str] = Field(min_length=1)
    job_constraint: ClassAdExpr = "true"
    match: ClassAdExpr
    limits: GroupLimits = GroupLimits()
    start_expr: ClassAdExpr | None = None  # ANDed into START of this group's glideins


class AuthConfig(_Model):
    method: Literal["scitoken", "x509", "ssh", "idtoken"]
    credential: str | None = None


class EntryLimits(_Model):
    max_glideins: NonNegInt = 10_000
    max_idle: NonNegInt = 2_000
    max_held: NonNegInt = 1_000


class GroupAtEntryLimits(_Model):
    """One group's glideins at one entry (GlideinWMS `per_frontend`); unset: no limit."""

    max_glideins: NonNegInt | None = None
    max_idle: NonNegInt | None = None
    max_held: NonNegInt | None = None


START_EXPR_ATTR = "GLIDEIN_START_EXPR"  # how start_expr reaches the pilot (attrs file)


Gridtype = GridtypeName  # the rules of each: aglidein.gridtypes


class EntryConfig(_Model):
    name: Name
    gridtype: Gridtype
    gatekeeper: str | None = None
    batch_system: BatchSystem | None = None
    auth: AuthConfig | None = None
    attrs: dict[str, AttrScalar] = Field(default_factory=dict)
    limits: EntryLimits = EntryLimits()
    group_limits: dict[Name, GroupAtEntryLimits] = Field(default_factory=dict)
    allow_groups: list[Name] | None = None
    start_expr: ClassAdExpr | None = None
    submit: SubmitOverride = SubmitOverride()
    glidein: GlideinOverride = GlideinOverride()
    # GLIDEIN_Entry_Name of this entry's glideins in the old factory (default: its name)
    gwms_names: list[str] = Field(default_factory=list)
    submit_attrs: dict[str, AttrScalar] = Field(default_factory=dict)
    enabled: bool = True
    gwms: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _gridtype_rules(self) -> EntryConfig:
        rules = gridtype(self.gridtype)
        if rules.needs_gatekeeper and not self.gatekeeper:
            raise ValueError(f"gatekeeper is required for gridtype {self.gridtype}")
        if rules.batch:
            if not self.batch_system:
                raise ValueError(f"batch_system is required for gridtype {self.gridtype}")
            if self.gatekeeper and "@" not in self.gatekeeper:
                raise ValueError(f"gatekeeper of a {self.gridtype} entry is user@host")
        elif self.batch_system is not None:
            raise ValueError("batch_system is only for gridtype batch")
        if rules.needs_auth and self.auth is None:
            raise ValueError(f"auth is required for gridtype {self.gridtype}")
        if not rules.submittable and self.enabled:
            raise ValueError(f"an entry of gridtype {self.gridtype} must have enabled: false")
        if START_EXPR_ATTR in self.attrs:
            raise ValueError(f"attrs.{START_EXPR_ATTR} is set by start_expr: use start_expr")
        return self

    def allows(self, group: str) -> bool:
        """Whether this entry serves glideins of `group` (`allow_groups`; null: every group)."""
        return self.allow_groups is None or group in self.allow_groups

    def start_expr_for(self, group: GroupConfig | None) -> str | None:
        """What the glideins of `group` here AND into their START: the entry's and the
        group's `start_expr`, each on one line; None when neither is set."""
        parts = [e for e in (self.start_expr, group.start_expr if group else None) if e]
        if not parts:
            return None
        return " && ".join(f"({_one_line(part)})" for part in parts)

    def effective_submit(self, factory: FactoryConfig) -> SubmitSettings:
        """factory.submit with this entry's overrides applied."""
        return factory.submit.model_copy(update=_set_fields(self.submit))

    def effective_glidein(self, factory: FactoryConfig) -> GlideinSettings:
        """factory.glidein with this entry's overrides applied."""
        return factory.glidein.model_copy(update=_set_fields(self.glidein))


def _one_line(expr: str) -> str:
    return " ".join(line.strip() for line in expr.splitlines() if line.strip())


def _set_fields(override: BaseModel) -> dict[str, Any]:
    return {
        name: getattr(override, name)
        for name in type(override).model_fields
        if getattr(override, name) is not None
    }


class OAuth2Config(_Model):
    """OAuth2 client-credentials flow (RFC 6749 §4.4) that fetches a token for `path`."""

    token_url: str
    client_id: str
    client_secret_file: str  # 0600 file holding the client secret; may use $VARS
    scope: str | None = None
    audience: str | None = None

    @field_validator("token_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("token_url must be an http(s) URL")
        return value


class CredentialConfig(_Model):
    name: Name
    type: Literal["scitoken", "x509", "ssh", "idtoken"]
    path: str
    refresh_command: list[str] | None = Field(default=None, min_length=1)
    min_lifetime: Duration = 3600.0
    refresh_timeout: Duration = 120.0  # a refresh_command or token request taking longer is killed
    oauth2: OAuth2Config | None = None

    @model_validator(mode="after")
    def _one_refresh_source(self) -> CredentialConfig:
        if self.oauth2 is not None:
            if self.refresh_command is not None:
                raise ValueError("give refresh_command or oauth2, not both")
            if self.type != "scitoken":
                raise ValueError("oauth2 is only for credentials of type scitoken")
        if self.refresh_timeout <= 0:
            raise ValueError("refresh_timeout must be > 0")
        return self

    @property
    def refreshable(self) -> bool:
        """Whether aglidein renews this credential (a command or OAuth2)."""
        return self.refresh_command is not None or self.oauth2 is not None


class MigrationConfig(_Model):
    """Running beside a GlideinWMS factory: its glideins in the collector count too."""

    gwms_factory: str | None = None  # its GLIDEIN_Factory; null: no old factory


class Config(_Model):
    factory: FactoryConfig
    pool: PoolConfig
    http: HttpConfig = HttpConfig()
    logs: LogsConfig = LogsConfig()
    migration: MigrationConfig = MigrationConfig()
    groups: list[GroupConfig] = Field(default_factory=list)
    entries: list[EntryConfig] = Field(default_factory=list)
    credentials: list[CredentialConfig] = Field(default_factory=list)

    def old_entry_names(self) -> dict[str, str]:
        """GLIDEIN_Entry_Name in the old factory -> our entry (`gwms_names`, else the
        entry's own name); empty without `migration.gwms_factory`."""
        if self.migration.gwms_factory is None:
            return {}
        out: dict[str, str] = {}
        for entry in self.entries:
            for name in entry.gwms_names or [entry.name]:
                out.setdefault(name, entry.name)
        return out

    def entry(self, name: str) -> EntryConfig:
        """The entry called `name` (KeyError if none)."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def group(self, name: str) -> GroupConfig:
        """The group called `name` (KeyError if none)."""
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)

    def credential(self, name: str) -> CredentialConfig:
        """The credential called `name` (KeyError if none)."""
        for credential in self.credentials:
            if credential.name == name:
                return credential
        raise KeyError(name)
