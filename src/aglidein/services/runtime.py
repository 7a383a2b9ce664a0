"""What every service shares inside one daemon: the live config, metrics, clock, state DB
and the status board that `/api/v1/status` renders."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
import structlog

from aglidein import __version__
from aglidein.clock import Clock
from aglidein.config import Config, LoadedConfig, load_config
from aglidein.core.accounting import AccountingTotals
from aglidein.errors import AglideinError, ConfigError
from aglidein.services.metrics import Metrics
from aglidein.services.roster import GlideinRoster
from aglidein.state import StateDB

__all__ = [
    "ConfigHolder",
    "ConfigSource",
    "CredentialStatus",
    "CycleStatus",
    "EntryStatus",
    "PoolSourceStatus",
    "ReloadResult",
    "Runtime",
    "ScheddStatus",
    "Service",
    "StatusBoard",
    "config_diff",
]

log = structlog.get_logger()


class Service(Protocol):
    """A long-running part of the daemon, started with `await tg.start(service.run)`."""

    name: str

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run until cancelled; call `task_status.started()` once ready."""
        ...

    async def stop(self) -> None:
        """Finish in-flight work and make `run` return (graceful shutdown)."""
        ...


# --- config and reload -------------------------------------------------------------------


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of a reload: applied in full (ok) or refused, with what changed,
    why it was refused, and which changed keys need a restart."""

    ok: bool
    changes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    restart_keys: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The API body."""
        return {
            "ok": self.ok,
            "changes": list(self.changes),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "restart_keys": list(self.restart_keys),
        }


# How every service reads the config: a getter it calls each time it needs the config,
# so that a reload reaches it. The daemon hands out its ConfigHolder (`runtime.config`);
# tests hand `lambda: config`.
ConfigSource = Callable[[], Config]

ReloadHook = Callable[[Config, Config], Awaitable[None]]
# A check of a new config before it is swapped in (reads token files, TLS keys, ...);
# it raises AglideinError, OSError or ValueError saying why the config cannot apply.
ReloadCheck = Callable[[Config], None]

# Keys whose change needs a restart to take effect: a reload changing one is refused.
RESTART_KEYS = (
    "factory.state_dir",
    "factory.job_owner",
    "factory.name",
    "http.listen",
    "pool.simulate",
    "logs.store",
)


class ConfigHolder:
    """The current config; `reload()` swaps it only for a valid one that can apply fully."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self._loaded = loaded
        self._hooks: list[ReloadHook] = []
        self._checks: list[ReloadCheck] = []
        self._lock = anyio.Lock()
        self.last_reload: tuple[float, ReloadResult] | None = None

    def __call__(self) -> Config:
        """The config in force (call it each time: a reload swaps it)."""
        return self._loaded.config

    @property
    def path(self) -> Path | None:
        """The file it came from."""
        return self._loaded.path

    def on_reload(self, hook: ReloadHook) -> None:
        """Call `hook(old, new)` after each successful reload."""
        self._hooks.append(hook)

    def on_check(self, check: ReloadCheck) -> None:
        """Run `check(new)` (in a thread) before a reload is applied; if it raises, the
        reload is refused and the old config stays."""
        self._checks.append(check)

    async def reload(self, metrics: Metrics) -> ReloadResult:
        """Re-read the file; apply it fully, or keep the old config and say why."""
        async with self._lock:
            result = await self._reload()
            self.last_reload = (time.time(), result)
            metrics.config_reloads.labels(result="success" if result.ok else "failure").inc()
            if result.ok:
                metrics.config_last_reload.set_to_current_time()
            return result

    async def _reload(self) -> ReloadResult:
        path = self._loaded.path
        if path is None:
            log.error("config.reload_failed", errors=["no config file to reload"])
            return ReloadResult(ok=False, errors=("no config file to reload",))
        try:
            loaded = await anyio.to_thread.run_sync(load_config, path)
        except ConfigError as exc:
            log.error("config.reload_failed", path=str(path), errors=exc.problems)
            return ReloadResult(ok=False, errors=tuple(exc.problems))
        old = self._loaded.config
        changes = config_diff(old, loaded.config)
        restart = tuple(k for k in RESTART_KEYS if any(c.startswith(k) for c in changes))
        if restart:
            errors = tuple(
                f"{key} changed: it takes effect only after a restart; "
                "the running config is unchanged"
                for key in restart
            )
            log.error("config.reload_refused", path=str(path), restart_keys=list(restart))
            return ReloadResult(ok=False, changes=changes, errors=errors, restart_keys=restart)
        problems = []
        for check in self._checks:
            try:
                await anyio.to_thread.run_sync(check, loaded.config)
            except (AglideinError, OSError, ValueError) as exc:
                problems.append(str(exc))
        if problems:
            log.error("config.reload_refused", path=str(path), errors=problems)
            return ReloadResult(ok=False, changes=changes, errors=tuple(problems))
        self._loaded = loaded
        for hook in self._hooks:
            try:
                await hook(old, loaded.config)
            except Exception as exc:  # checked above; one failing hook must not stop the rest
                log.error("config.reload_hook_failed", error=str(exc))
        log.info("config.reloaded", path=str(path), changes=list(changes))
        return ReloadResult(ok=True, changes=changes, warnings=loaded.warnings)

    def file_state(self) -> dict[str, Any]:
        """Whether the file on disk is the config in force, and how the last reload went
        (reads the file: call it off the event loop)."""
        path = self._loaded.path
        on_disk: str | None = None
        if path is not None:
            try:
                on_disk = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                on_disk = None
        last = self.last_reload
        return {
            "path": str(path) if path is not None else None,
            "in_force_sha256": self._loaded.sha256,
            "file_sha256": on_disk,
            "file_matches": None if path is None else on_disk == self._loaded.sha256,
            "last_reload": None
            if last is None
            else {"at": _iso(last[0]), "ok": last[1].ok, "errors": list(last[1].errors)},
        }


def config_diff(old: Config, new: Config) -> tuple[str, ...]:
    """Dotted key paths that differ, e.g. `entries[US_FNAL].limits.max_idle: 10 -> 20`."""
    out: list[str] = []
    _diff(_keyed(old.model_dump(mode="json")), _keyed(new.model_dump(mode="json")), "", out)
    return tuple(out)


def _keyed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and "name" in v for v in value)
    ):
        return {f"[{v['name']}]": _keyed(v) for v in value}
    return value


def _diff(old: Any, new: Any, prefix: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sep = "" if key.startswith("[") or not prefix else "."
            path = f"{prefix}{sep}{key}"
            if key not in old:
                out.append(f"{path}: added")
            elif key not in new:
                out.append(f"{path}: removed")
            else:
                _diff(old[key], new[key], path, out)
    elif old != new:
        out.append(f"{prefix}: {old!r} -> {new!r}")


# --- status ------------------------------------------------------------------------------


@dataclass
class CycleStatus:
    """The current or last decision cycle."""

    number: int = 0
    started: float | None = None
    duration_s: float | None = None


@dataclass
class ScheddStatus:
    """One schedd as the poller last saw it."""

    name: str
    group: str
    ok: bool
    stale_cycles: int = 0
    last_error: str | None = None


@dataclass
class PoolSourceStatus:
    """The collector or the factory schedd as the last poll found it."""

    name: str
    ok: bool
    last_poll: float
    last_ok: float | None = None
    last_error: str | None = None
    cycle_s: float = 60.0  # the poll interval, so a reader can tell a stale poll

    def as_json(self) -> dict[str, Any]:
        """One row of the status document's `pool`."""
        return {
            "name": self.name,
            "ok": self.ok,
            "last_poll": _iso(self.last_poll),
            "last_ok": _iso(self.last_ok),
            "last_error": self.last_error,
            "cycle_s": self.cycle_s,
        }


@dataclass
class EntryStatus:
    """One entry: health, glidein counts, and its decision rows."""

    name: str
    health: str = "ok"
    backoff_until: float | None = None
    glideins: dict[str, int] = field(
        default_factory=lambda: {"idle": 0, "running": 0, "held": 0, "black_hole": 0}
    )
    decisions: list[dict[str, Any]] = field(default_factory=list)
    downtime: dict[str, Any] | None = None  # the downtime in force for it (any group)


@dataclass
class CredentialStatus:
    """One credential as the renewer last saw it."""

    name: str
    type: str
    expires: float | None = None
    last_renewal: float | None = None
    last_error: str | None = None
    warn_before: float | None = None  # min_lifetime: less life left than this is a warning


@dataclass
class StatusBoard:
    """Mutable status the services publish; `/api/v1/status` renders it (DESIGN §8)."""

    factory_name: str
    started: float
    cycle: CycleStatus = field(default_factory=CycleStatus)
    schedds: list[ScheddStatus] = field(default_factory=list)
    entries: dict[str, EntryStatus] = field(default_factory=dict)
    credentials: dict[str, CredentialStatus] = field(default_factory=dict)
    downtimes: list[dict[str, Any]] = field(default_factory=list)  # not over yet
    pool: dict[str, PoolSourceStatus] = field(default_factory=dict)  # collector, factory_schedd
    ready: bool = False
    accounting: AccountingTotals | None = None  # per (group, entry), services.accounting

    def as_json(self) -> dict[str, Any]:
        """The status document."""
        return {
            "factory": {
                "name": self.factory_name,
                "version": __version__,
                "started": _iso(self.started),
                "cycle": {
                    "number": self.cycle.number,
                    "started": _iso(self.cycle.started),
                    "duration_s": self.cycle.duration_s,
                },
            },
            "pool": {key: source.as_json() for key, source in sorted(self.pool.items())},
            "schedds": [
                {
                    "name": s.name,
                    "group": s.group,
                    "ok": s.ok,
                    "stale_cycles": s.stale_cycles,
                    "last_error": s.last_error,
                }
                for s in self.schedds
            ],
            "entries": [
                {
                    "name": e.name,
                    "health": e.health,
                    "backoff_until": _iso(e.backoff_until),
                    "glideins": dict(e.glideins),
                    "decisions": list(e.decisions),
                    "downtime": e.downtime,
                }
                for e in sorted(self.entries.values(), key=lambda e: e.name)
            ],
            "credentials": [
                {
                    "name": c.name,
                    "type": c.type,
                    "expires": _iso(c.expires),
                    "last_renewal": _iso(c.last_renewal),
                    "last_error": c.last_error,
                    "warn_before_s": c.warn_before,
                }
                for c in sorted(self.credentials.values(), key=lambda c: c.name)
            ],
            "downtimes": list(self.downtimes),
            "accounting": _accounting_rows(self.accounting),
        }

    def sync_entries(self, config: Config) -> None:
        """Make the entry list follow the config (after start and reload)."""
        names = {e.name for e in config.entries}
        for name in names - set(self.entries):
            self.entries[name] = EntryStatus(name=name)
        for name in set(self.entries) - names:
            del self.entries[name]


def _accounting_rows(totals: AccountingTotals | None) -> list[dict[str, Any]]:
    """`accounting`: one row per (group, entry) with hours since `since` (DESIGN §8)."""
    if totals is None:
        return []
    return [
        {
            "group": row.group,
            "entry": row.entry,
            "glidein_hours": round(row.glidein_seconds / 3600, 4),
            "job_hours": round(row.job_seconds / 3600, 4),
            "badput_hours": round(row.badput_seconds / 3600, 4),
            "validation_failures": row.validation_failures,
            "since": _iso(row.since),
        }
        for row in totals.rows()
    ]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# --- the runtime -------------------------------------------------------------------------


@dataclass
class Runtime:
    """Shared by every service of one daemon."""

    config: ConfigHolder
    metrics: Metrics
    clock: Clock
    state: StateDB
    status: StatusBoard
    roster: GlideinRoster = field(default_factory=GlideinRoster)  # the glidein list

    @property
    def state_dir(self) -> Path:
        """`factory.state_dir` of the config in force."""
        return Path(self.config().factory.state_dir)
