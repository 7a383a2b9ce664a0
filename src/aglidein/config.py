"""Typed configuration (DESIGN §4): pydantic v2, frozen, unknown keys rejected.

Errors name the file, line and key path: `conf.yaml:12: entries[3].limits.max_idle: ...`.
`load_config` returns the config and its warnings (legal but suspicious things).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from aglidein.classad.facade import ExprSyntaxError, parse_expr
from aglidein.config_yaml import Loc
from aglidein.config_yaml import format_loc as _format_loc
from aglidein.config_yaml import line_of as _line_of
from aglidein.config_yaml import load_yaml as _load_yaml
from aglidein.errors import ConfigError
from aglidein.gridtypes import BatchSystem, GridtypeName, gridtype
from aglidein.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "AuthConfig",
    "Config",
    "CredentialConfig",
    "EntryConfig",
    "FactoryConfig",
    "GlideinSettings",
    "GroupConfig",
    "HttpConfig",
    "LoadedConfig",
    "LogsConfig",
    "OAuth2Config",
    "PoolConfig",
    "SubmitSettings",
    "config_schema",
    "expand_path",
    "load_config",
    "load_http_section",
    "missing_files",
    "parse_config_text",
]

# Upper bounds: a number beyond these is a typo or an attack, never a setting.
MAX_COUNT = 10_000_000  # glideins, jobs, records per second, cycles
MAX_DURATION_S = 10 * 365 * 86400.0
MAX_SIZE = 1 << 50  # 1 PiB

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(le=MAX_DURATION_S),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"}),
]
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    Field(le=MAX_SIZE),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?\s*[KMGT]?i?B?$"}),
]


def _check_expr(text: str) -> str:
    try:
        parse_expr(text)
    except ExprSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return text


ClassAdExpr = Annotated[
    str,
    BeforeValidator(lambda v: _check_expr(v) if isinstance(v, str) else v),
    WithJsonSchema({"type": "string", "description": "a ClassAd expression"}),
]
NonNegInt = Annotated[int, Field(ge=0, le=MAX_COUNT)]
PosInt = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=128)]
ClassAdInt = Annotated[int, Field(ge=-(1 << 63), le=(1 << 63) - 1)]  # a ClassAd integer
AttrScalar = str | ClassAdInt | float | bool


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


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
    simulate: str | None = None

    @property
    def identity(self) -> str:
        """The IDTOKEN `sub` of glideins."""
        return self.glidein_identity or f"glidein@{self.trust_domain}"


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


class AuthConfig(_Model):
    method: Literal["scitoken", "x509", "ssh", "idtoken"]
    credential: str | None = None


class EntryLimits(_Model):
    max_glideins: NonNegInt = 10_000
    max_idle: NonNegInt = 2_000
    max_held: NonNegInt = 1_000


Gridtype = GridtypeName  # the rules of each: aglidein.gridtypes


class EntryConfig(_Model):
    name: Name
    gridtype: Gridtype
    gatekeeper: str | None = None
    batch_system: BatchSystem | None = None
    auth: AuthConfig | None = None
    attrs: dict[str, AttrScalar] = Field(default_factory=dict)
    limits: EntryLimits = EntryLimits()
    submit: SubmitOverride = SubmitOverride()
    glidein: GlideinOverride = GlideinOverride()
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
        return self

    def effective_submit(self, factory: FactoryConfig) -> SubmitSettings:
        """factory.submit with this entry's overrides applied."""
        return factory.submit.model_copy(update=_set_fields(self.submit))

    def effective_glidein(self, factory: FactoryConfig) -> GlideinSettings:
        """factory.glidein with this entry's overrides applied."""
        return factory.glidein.model_copy(update=_set_fields(self.glidein))


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


class Config(_Model):
    factory: FactoryConfig
    pool: PoolConfig
    http: HttpConfig = HttpConfig()
    logs: LogsConfig = LogsConfig()
    groups: list[GroupConfig] = Field(default_factory=list)
    entries: list[EntryConfig] = Field(default_factory=list)
    credentials: list[CredentialConfig] = Field(default_factory=list)

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


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with where it came from and what looked suspicious."""

    config: Config
    path: Path | None
    warnings: tuple[str, ...]
    sha256: str | None = None  # of the file's bytes, to tell when the file changed since


def expand_path(path: str) -> Path:
    """`$VARS` and `~` expanded (e.g. `$CREDENTIALS_DIRECTORY/POOL` under systemd)."""
    return Path(os.path.expandvars(os.path.expanduser(path)))


def missing_files(config: Config) -> list[str]:
    """Key, token and credential files the config names that are not there (`run` needs
    them; a credential with a refresh source is created by it)."""
    named: list[tuple[str, str]] = [("pool.signing_key", config.pool.signing_key)]
    http = config.http
    for key in ("read_token_file", "admin_token_file"):
        value = getattr(http, key)
        if value is not None:
            named.append((f"http.{key}", value))
    if http.tls is not None:
        named += [("http.tls.cert", http.tls.cert), ("http.tls.key", http.tls.key)]
    for credential in config.credentials:
        where = f"credentials[{credential.name}]"
        if not credential.refreshable:
            named.append((f"{where}.path", credential.path))
        if credential.oauth2 is not None:
            named.append(
                (f"{where}.oauth2.client_secret_file", credential.oauth2.client_secret_file)
            )
    out = []
    for key, value in named:
        path = expand_path(value)
        if not path.exists():
            out.append(f"{key}: {path}: no such file")
    return out


def config_schema() -> dict[str, Any]:
    """JSON Schema of the config file, for editors."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aglidein configuration"
    return schema


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and validate a config file, or raise ConfigError with every problem located."""
    file = Path(path)
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    loaded = parse_config_text(text, source=str(file), path=file)
    return replace(loaded, sha256=hashlib.sha256(raw).hexdigest())


def load_http_section(path: str | os.PathLike[str]) -> HttpConfig:
    """Only the `http` section of a config file (to reach the daemon when the rest of
    the file has errors); ConfigError when even that is unusable."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    data, lines, _ = _load_yaml(text, str(file))
    section = data.get("http", {}) if isinstance(data, dict) else None
    try:
        return HttpConfig.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(_located_errors(exc, lines, str(file))) from None


def parse_config_text(
    text: str, *, source: str = "<config>", path: Path | None = None
) -> LoadedConfig:
    """Validate config text; `source` names it in errors."""
    data, lines, problems = _load_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the config must be a mapping of sections")
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += _located_errors(exc, lines, source)
    # References are checked on the raw data too, so one pass lists every error.
    problems += _cross_check(data, lines, source)
    if problems or config is None:
        raise ConfigError(_in_line_order(problems))
    return LoadedConfig(config=config, path=path, warnings=tuple(_warnings(config, lines, source)))


def _in_line_order(problems: list[str]) -> list[str]:
    def line(problem: str) -> int:
        parts = problem.split(":")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    return sorted(dict.fromkeys(problems), key=line)


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
}


def _located_errors(exc: ValidationError, lines: Mapping[Loc, int], source: str) -> list[str]:
    out = []
    for error in exc.errors(include_url=False):
        loc = tuple(
            part for part in error["loc"] if not (isinstance(part, str) and "[" in part)
        )  # drop union-member tags like 'function-after[...]'
        template = _MESSAGES.get(error["type"])
        ctx = error.get("ctx") or {}
        if template:
            message = template.format(**ctx)
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
        if error["type"] == "literal_error" and "expected" in ctx:
            message = f"must be one of {ctx['expected']}"
        out.append(f"{source}:{_line_of(loc, lines)}: {_format_loc(loc)}: {message}")
    return sorted(set(out), key=lambda s: (int(s.split(":")[1]), s))


# --- cross-references and warnings --------------------------------------------------------


def _cross_check(data: Mapping[str, Any], lines: Mapping[Loc, int], source: str) -> list[str]:
    """Duplicate names and credential references, read from the raw (maybe invalid) data."""
    problems: list[str] = []

    def problem(loc: Loc, message: str) -> None:
        problems.append(f"{source}:{_line_of(loc, lines)}: {_format_loc(loc)}: {message}")

    def items(section: str) -> list[tuple[int, Mapping[str, Any]]]:
        value = data.get(section)
        if not isinstance(value, list):
            return []
        return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]

    for section in ("groups", "entries", "credentials"):
        seen: dict[str, int] = {}
        for index, item in items(section):
            name = item.get("name")
            if not isinstance(name, str):
                continue
            if name in seen:
                problem(
                    (section, index, "name"),
                    f"duplicate name {name!r} (first at {section}[{seen[name]}])",
                )
            else:
                seen[name] = index
    credential_types: dict[str, object] = {}
    for _, item in items("credentials"):
        if isinstance(item.get("name"), str):
            credential_types.setdefault(item["name"], item.get("type"))
    for index, entry in items("entries"):
        auth = entry.get("auth")
        if not isinstance(auth, Mapping) or not isinstance(auth.get("credential"), str):
            continue
        name, method = auth["credential"], auth.get("method")
        loc: Loc = ("entries", index, "auth", "credential")
        if name not in credential_types:
            problem(loc, f"unknown credential {name!r}")
        elif method in ("scitoken", "x509", "ssh", "idtoken") and credential_types[name] != method:
            problem(
                loc,
                f"credential {name!r} is of type {credential_types[name]}, auth.method is {method}",
            )
    return problems


def _warnings(config: Config, lines: Mapping[Loc, int], source: str) -> list[str]:
    out: list[str] = []

    def warn(loc: Loc, message: str) -> None:
        out.append(f"{source}:{_line_of(loc, lines)}: {_format_loc(loc)}: {message}")

    for index, entry in enumerate(config.entries):
        if (
            entry.enabled
            and entry.auth is not None
            and entry.auth.method != "idtoken"
            and entry.auth.credential is None
        ):
            warn(
                ("entries", index, "auth"),
                f"entry {entry.name!r} has no credential: it will be planned but not submitted",
            )
    enabled = [e for e in config.entries if e.enabled]
    for index, group in enumerate(config.groups):
        if not enabled:
            warn(("groups", index), f"group {group.name!r}: no enabled entry to match")
            continue
        _, target_refs = parse_expr(group.match).references()
        known = {name.lower() for e in enabled for name in e.attrs}
        known.add("currenttime")  # HTCondor gives every ad an implicit CurrentTime
        missing = sorted(name for name in target_refs if name.lower() not in known)
        if missing:
            warn(
                ("groups", index, "match"),
                f"group {group.name!r}: match references TARGET.{missing[0]}, "
                "which no enabled entry defines in attrs",
            )
    if not config.groups:
        warn((), "no groups: nothing will create demand")
    if not config.entries:
        warn((), "no entries: nowhere to send glideins")
    return out
