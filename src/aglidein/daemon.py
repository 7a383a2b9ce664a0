"""`aglidein run`: one anyio task group owning every service (DESIGN §2).

Signals belong here alone: SIGTERM/SIGINT drain gracefully within
`factory.shutdown_grace` (a second one stops at once), SIGHUP reloads the config.
systemd hears READY=1 only after every service started, STATUS= lines, WATCHDOG=1
from the loop monitor, and STOPPING=1.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import structlog

from aglidein import __version__
from aglidein.clock import Clock, SystemClock, wall_clock
from aglidein.config import Config, LoadedConfig, expand_path
from aglidein.errors import AglideinError
from aglidein.gctune import tune_gc
from aglidein.logkeys import read_private_file
from aglidein.ownership import resolve_job_owner, unreachable_dir
from aglidein.sdnotify import Notifier
from aglidein.services.cycle_setup import build_cycle
from aglidein.services.glidein_logs.service import LogService
from aglidein.services.http import ApiRoute, HttpService
from aglidein.services.loop_monitor import LoopMonitor
from aglidein.services.metrics import Metrics
from aglidein.services.renewer import Renewer
from aglidein.services.runtime import ConfigHolder, Runtime, Service, StatusBoard
from aglidein.state import StateDB, StateDirLock
from aglidein.store.history import HISTORY_FILE, HistoryStore

__all__ = [
    "Daemon",
    "ServiceFactory",
    "Subsystems",
    "default_services",
    "open_state_dir_to_owner",
    "preflight",
]

log = structlog.get_logger()


@dataclass
class Subsystems:
    """What the subsystems beyond HTTP contribute. Start order: loop monitor, `stores`,
    HTTP, `workers`; stop order is the reverse, so new work stops first, in-flight
    requests finish next, and stores flush last."""

    stores: list[Service] = field(default_factory=list)
    workers: list[Service] = field(default_factory=list)
    routes: list[ApiRoute] = field(default_factory=list)
    ready_checks: list[Callable[[], tuple[bool, str]]] = field(default_factory=list)


ServiceFactory = Callable[[Runtime], Subsystems]


def preflight(loaded: LoadedConfig) -> None:
    """Check what `run` needs on disk (check-config does not): say which one is missing."""
    config = loaded.config
    state_dir = Path(config.factory.state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise AglideinError(
            f"factory.state_dir {state_dir}: cannot create: {exc.strerror}"
        ) from None
    if not os.access(state_dir, os.W_OK):
        raise AglideinError(f"factory.state_dir {state_dir}: not writable")
    resolve_job_owner(config, strict=True)  # as root, the job owner must be named
    read_private_file(expand_path(config.pool.signing_key), "pool.signing_key")
    if config.pool.simulate is not None and not expand_path(config.pool.simulate).exists():
        raise AglideinError(f"pool.simulate {config.pool.simulate}: no such scenario file")
    tls = config.http.tls
    if tls is not None:
        for what, path in (("http.tls.cert", tls.cert), ("http.tls.key", tls.key)):
            if not expand_path(path).exists():
                raise AglideinError(f"{what} {path}: no such file")


def open_state_dir_to_owner(config: Config) -> None:
    """Let the job owner's group search `state_dir` (run once the state dir is ours)."""
    state_dir = Path(config.factory.state_dir)
    owner = resolve_job_owner(config, strict=True)
    if owner is not None:
        # the job owner's group may reach state_dir/pilot and state_dir/glideins (search
        # only); the databases and keys beside them stay out of others' reach
        os.chown(state_dir, -1, owner.gid)
        state_dir.chmod((stat.S_IMODE(state_dir.stat().st_mode) | 0o010) & ~0o007)
        blocked = unreachable_dir(state_dir, owner)
        if blocked is not None:
            # an error, not a refusal: entries that need no gridmanager still work
            log.error(
                "ownership.state_dir_unreachable",
                state_dir=str(state_dir),
                job_owner=owner.name,
                blocked=str(blocked),
                mode=f"{stat.S_IMODE(blocked.stat().st_mode):04o}",
                msg="the gridmanager cannot read the pilot files nor write the user log: "
                "glideins will be held; choose a state_dir whose parents it may search",
            )


def default_services(runtime: Runtime) -> Subsystems:
    """The subsystems of a production daemon."""
    renewer = Renewer(runtime)  # renewer.states() feeds CycleInputs.credentials
    history = HistoryStore(runtime.state_dir / HISTORY_FILE)  # the status pages' charts
    # log tokens, --since and stored times are the operators': the wall clock, also in the demo
    logs = LogService(dataclasses.replace(runtime, clock=wall_clock(runtime.clock)))
    cycle, routes = build_cycle(
        runtime,
        credentials=renewer.states,
        reported=logs.reported,
        ingest=lambda glidein, entry, batch: logs.store.ingest(glidein, entry, batch),
        history=history,
        on_ends=logs.accounting.queue_ends,
    )
    return Subsystems(
        stores=[logs, history],
        workers=[renewer, logs.closer, cycle],
        routes=[*logs.routes(), *routes],
        ready_checks=[logs.ready],
    )


class Daemon:
    """One running factory."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        services: ServiceFactory = default_services,
        lock: StateDirLock | None = None,
        gc_tuned: bool = False,
    ) -> None:
        """`lock`: the state dir, already taken by the caller (the demo); else `run` takes it.
        `gc_tuned`: `tune_gc` once every service started (a process of its own)."""
        self.loaded = loaded
        self._gc_tuned = gc_tuned
        self._lock = lock
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.metrics = Metrics()
        self._factory = services
        self._stop_requested = anyio.Event()
        self.ready = anyio.Event()  # set once every service has started
        self._force = False
        self.stop_signal: str | None = None  # the signal that began the drain (SIGTERM, …)
        self.runtime: Runtime | None = None
        self.http: HttpService | None = None

    def request_stop(self) -> None:
        """Begin the graceful drain (as SIGTERM does)."""
        self._stop_requested.set()

    async def run(self) -> int:
        """Run until stopped; the exit status."""
        config = self.loaded.config
        preflight(self.loaded)
        state_dir = Path(config.factory.state_dir)
        own_lock = StateDirLock.acquire(state_dir) if self._lock is None else None
        try:
            open_state_dir_to_owner(config)
            return await self._run_locked(state_dir)
        finally:
            if own_lock is not None:
                own_lock.release()

    async def _run_locked(self, state_dir: Path) -> int:
        config = self.loaded.config
        state = await anyio.to_thread.run_sync(StateDB.open, state_dir / "state.db")
        status = StatusBoard(factory_name=config.factory.name, started=self.clock.now())
        status.sync_entries(config)
        holder = ConfigHolder(self.loaded)
        runtime = self.runtime = Runtime(
            config=holder, metrics=self.metrics, clock=self.clock, state=state, status=status
        )
        self.metrics.build_info.info({"version": __version__})
        self.metrics.up_since.set(time.time())

        async def _sync_status(old: object, new: object) -> None:
            status.sync_entries(holder())

        holder.on_reload(_sync_status)
        monitor = LoopMonitor(
            self.metrics,
            watchdog=lambda: self.notifier.send(WATCHDOG=1),
            watchdog_every=self.notifier.watchdog_interval(),
        )
        parts = self._factory(runtime)
        self.http = HttpService(runtime, parts.routes)
        self.http.ready_checks.extend(parts.ready_checks)
        services: list[Service] = [monitor, *parts.stores, self.http, *parts.workers]
        try:
            await self._serve(runtime, services)
        finally:
            await anyio.to_thread.run_sync(state.close)
            self.notifier.close()
        return 1 if self._force else 0

    async def _serve(self, runtime: Runtime, services: list[Service]) -> None:
        done: dict[str, anyio.Event] = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._signals, tg.cancel_scope)
            for service in services:
                done[service.name] = anyio.Event()
                await tg.start(self._supervise, service, done[service.name])
                log.info("service.started", service=service.name)
            if self._gc_tuned:
                tune_gc()
            runtime.status.ready = True
            self.ready.set()
            self.metrics.services_ready.set(1)
            self.notifier.send(READY=1, STATUS=self._status_line(runtime))
            log.info(
                "daemon.ready",
                factory=runtime.config().factory.name,
                pid=os.getpid(),
                gc_thresholds=list(gc.get_threshold()),
            )
            tg.start_soon(self._status_updates, runtime)
            await self._stop_requested.wait()
            runtime.status.ready = False
            self.metrics.services_ready.set(0)
            grace = runtime.config().factory.shutdown_grace
            log.info("daemon.stopping", grace_s=grace)
            self.notifier.send(STOPPING=1, STATUS="stopping")
            with anyio.move_on_after(grace) as scope:
                for service in reversed(services):
                    await service.stop()
                    await done[service.name].wait()
                    log.info("service.stopped", service=service.name)
            if scope.cancelled_caught:
                log.warning("daemon.grace_exceeded", grace_s=grace)
            tg.cancel_scope.cancel()
        log.info("daemon.stopped")

    async def _supervise(
        self,
        service: Service,
        done: anyio.Event,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            await service.run(task_status=task_status)
        finally:
            done.set()

    async def _signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    if self.runtime is not None:
                        self.notifier.send(RELOADING=1, MONOTONIC_USEC=time.monotonic_ns() // 1000)
                        await self.runtime.config.reload(self.metrics)
                        self.notifier.send(READY=1, STATUS=self._status_line(self.runtime))
                    continue
                if self._stop_requested.is_set():
                    log.warning("daemon.forced_stop", signal=signal.Signals(signum).name)
                    self._force = True
                    scope.cancel()
                    return
                self.stop_signal = signal.Signals(signum).name
                log.info("daemon.signal", signal=self.stop_signal)
                self._stop_requested.set()

    async def _status_updates(self, runtime: Runtime) -> None:
        while not self._stop_requested.is_set():
            with anyio.move_on_after(10):
                await self._stop_requested.wait()
            if not self._stop_requested.is_set():
                self.notifier.send(STATUS=self._status_line(runtime))

    @staticmethod
    def _status_line(runtime: Runtime) -> str:
        status = runtime.status
        glideins = sum(sum(e.glideins.values()) for e in status.entries.values())
        backoff = sum(1 for e in status.entries.values() if e.health == "backoff")
        return (
            f"cycle {status.cycle.number}; {len(status.entries)} entries "
            f"({backoff} in backoff); {glideins} glideins"
        )
