"""Loading and validating the configuration (DESIGN §4); the models are in
`aglidein.config_model` and re-exported here, the public import.

Errors name the file, line and key path: `conf.yaml:12: entries[3].limits.max_idle: ...`.
`load_config` returns the config and its warnings (legal but suspicious things).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aglidein.classad.facade import parse_expr
from aglidein.config_model import (
    MAX_COUNT,
    AuthConfig,
    BackoffSettings,
    Config,
    CredentialConfig,
    Deadlines,
    EntryConfig,
    FactoryConfig,
    GlideinSettings,
    GroupConfig,
    HttpConfig,
    LogsConfig,
    OAuth2Config,
    PoolConfig,
    SubmitSettings,
)
from aglidein.config_yaml import Loc
from aglidein.config_yaml import format_loc as _format_loc
from aglidein.config_yaml import line_of as _line_of
from aglidein.config_yaml import load_yaml as _load_yaml
from aglidein.errors import ConfigError

__all__ = [
    "ALL_ENTRIES",
    "MAX_COUNT",
    "AuthConfig",
    "BackoffSettings",
    "Config",
    "CredentialConfig",
    "Deadlines",
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


# The word that means every entry (`aglidein downtime add all`, `{"entry": "all"}` in the
# downtime API and its answers): no entry may be called that, or it could not be told apart.
ALL_ENTRIES = "all"


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
    """Duplicate names, group and credential references, read from the raw (maybe
    invalid) data."""
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
    for index, entry in items("entries"):
        if entry.get("name") == ALL_ENTRIES:
            problem(
                ("entries", index, "name"),
                f"{ALL_ENTRIES!r} is reserved: it means every entry (`aglidein downtime add "
                f"{ALL_ENTRIES}`); rename this entry",
            )
    group_names = {item["name"] for _, item in items("groups") if isinstance(item.get("name"), str)}
    for index, entry in items("entries"):
        for key in ("group_limits", "allow_groups"):
            named = entry.get(key)
            if not isinstance(named, Mapping | list):
                continue
            for name in named:
                if isinstance(name, str) and name not in group_names:
                    problem(("entries", index, key), f"unknown group {name!r}")
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
