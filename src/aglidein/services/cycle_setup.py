"""Assembling the cycle for a daemon: pool, poller, policy, provisioner, exits, routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from aglidein.clock import Clock, wall_clock
from aglidein.condor import open_pool
from aglidein.condor.api import Pool
from aglidein.condor.bindings import BindingsPool
from aglidein.condor.userlog import JobEnd
from aglidein.config import Config, EntryConfig
from aglidein.core.model import CredentialState
from aglidein.core.policy import decide
from aglidein.credentials import PoolSigningKey, write_glidein_tokens
from aglidein.logkeys import LogKeyring
from aglidein.ownership import resolve_job_owner
from aglidein.services.cycle import CycleService, PollerLike, Reported
from aglidein.services.downtimes import downtime_routes
from aglidein.services.exits import ExitWatcher
from aglidein.services.glidein_files import PilotKit, TokenWriter
from aglidein.services.glidein_logs.stderr import IngestRecords, OutputFiles
from aglidein.services.history import HistoryRecorder
from aglidein.services.http import ApiRoute
from aglidein.services.operator import operator_routes
from aglidein.services.pages import StatusPages
from aglidein.services.poller import Poller
from aglidein.services.provisioner import Provisioner
from aglidein.services.runtime import Runtime
from aglidein.store.history import HistoryStore

__all__ = ["build_cycle", "pool_for", "token_writer"]


def pool_for(runtime: Runtime) -> Pool:
    """The simulated pool for `pool.simulate`, else the bindings on the live config."""
    config = runtime.config()
    if config.pool.simulate is not None:
        return open_pool(config, clock=runtime.clock)
    return BindingsPool(runtime.config)


def token_writer(state_dir: Path, wall: Clock | None = None) -> TokenWriter:
    """Glidein IDTOKEN (from `pool.signing_key`) and log token, written 0600.

    With `wall`, tokens are minted at its time, not the cycle's: the pool and the log
    API check them against the wall clock even when a demo's simulation runs faster.
    """

    def write(
        config: Config, entry: EntryConfig, glidein_id: str, directory: Path, now: float
    ) -> tuple[Path, Path]:
        if wall is not None:
            now = wall.now()
        files = write_glidein_tokens(
            config,
            entry,
            glidein_id,
            directory,
            pool_key=PoolSigningKey.load(config.pool.signing_key),
            log_keys=LogKeyring.load(state_dir),  # re-read: the key may have been rotated
            now=now,
        )
        return files.idtoken, files.log_token

    return write


def build_cycle(
    runtime: Runtime,
    *,
    pool: Pool | None = None,
    poller: PollerLike | None = None,
    credentials: Callable[[], Mapping[str, CredentialState]] | None = None,
    kit: PilotKit | None = None,
    tokens: TokenWriter | None = None,
    reported: Reported | None = None,
    ingest: IngestRecords | None = None,
    history: HistoryStore | None = None,
    on_ends: Callable[[list[JobEnd]], None] | None = None,
) -> tuple[CycleService, list[ApiRoute]]:
    """The cycle service, its operator and downtime routes, with production parts by default.

    `reported` (async, the ids of glideins that posted log records) lets entry health
    tell a glidein that logs but runs no startd from one that never reported. With
    `ingest` too (async, stores a batch of records for a glidein and entry), glideins
    that end without a record get their stderr stored as records. With `history` (a
    service the caller runs), each cycle is recorded and the status pages are served. `on_ends` is told
    every glidein end read from the user logs (after the roster), for the accounting.
    """
    pool = pool or pool_for(runtime)
    state_dir = runtime.state_dir
    recorder = HistoryRecorder(history, runtime.roster) if history is not None else None

    def ended(ends: list[JobEnd]) -> None:
        runtime.roster.record_ends(ends, runtime.clock.now())
        if recorder is not None:  # after the roster: it finds each glidein's group there
            recorder.note_ends(ends)
        if on_ends is not None:
            on_ends(ends)

    provisioner = Provisioner(
        runtime.config,
        pool,
        runtime.state,
        runtime.metrics,
        runtime.clock,
        kit or PilotKit(state_dir, owner=resolve_job_owner(runtime.config())),
        tokens or token_writer(state_dir, wall_clock(runtime.clock)),
    )
    cycle = CycleService(
        runtime,
        _told_of_submissions(
            poller or Poller(runtime.config, pool, runtime.metrics, runtime.clock), provisioner
        ),
        decide,
        provisioner,
        ExitWatcher(
            state_dir / "glideins",
            runtime.state,
            runtime.metrics,
            ended,
            group_of=runtime.roster.group_of_job,
            retention=lambda: runtime.config().logs.retention,
        ),
        credentials=credentials,
        reported=reported,
        pool=pool,
        outputs=OutputFiles(state_dir / "glideins", ingest, reported, lambda: runtime.config().logs)
        if ingest is not None and reported is not None
        else None,
        history=recorder,
    )
    routes = [*operator_routes(cycle), *downtime_routes(runtime)]
    if recorder is not None:
        routes += StatusPages(runtime, recorder, lambda: cycle.health).routes()
    return cycle, routes


def _told_of_submissions(poller: PollerLike, provisioner: Provisioner) -> PollerLike:
    """The poller, told of every cluster the provisioner submits (a factory schedd that
    fails the next poll counts them with its last known glideins)."""
    if isinstance(poller, Poller):
        provisioner.on_submitted = poller.note_submitted
    return poller
