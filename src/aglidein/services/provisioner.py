"""The hands of the factory: acts on a Plan against the factory schedds (DESIGN §2, §6).

Entries are served concurrently (a global cap), each one in order: releases, removals,
submissions in clusters of `cluster_size`. Each cluster goes to one factory schedd
(`core.spread`); releases and removals go to the schedd that holds the glidein, and
nothing is sent to a schedd that did not answer this cycle's poll. No double
submission: a batch id and its schedd are written to the state DB *before* the cluster
is sent and the id travels as `AglideinBatch`; batches still pending (a crash, a
timed-out submit) are looked up on their schedd before anything new is sent. Whatever
the plan says, nothing is submitted to an entry that is not healthy, and no submission
goes past a limit of `core.limits.LIMITS`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import anyio
import anyio.to_thread
import structlog

from aglidein.classad.facade import quote
from aglidein.clock import Clock
from aglidein.condor.api import JobAction, Pool, Schedd, SubmitDescription
from aglidein.config import Config, EntryConfig
from aglidein.core.health import effective_state
from aglidein.core.limits import Headroom
from aglidein.core.model import (
    EntryHealth,
    Glidein,
    GlideinCensus,
    GlideinState,
    HealthState,
    Plan,
    ReleaseRequest,
    RemoveRequest,
    SubmitRequest,
)
from aglidein.core.policy_census import CensusCounts
from aglidein.core.spread import entry_spread, group_by_schedd, pick_schedd
from aglidein.core.submit import render_submit, userlog_name
from aglidein.errors import AglideinError, CondorError, CondorTimeout
from aglidein.services.glidein_files import PilotKit, TokenWriter
from aglidein.services.metrics import Metrics
from aglidein.services.runtime import ConfigSource
from aglidein.state import StateDB

__all__ = ["EntryOutcome", "Provisioner"]

log = structlog.get_logger()


@dataclass
class EntryOutcome:
    """What happened to one entry this cycle."""

    submitted: int = 0
    submit_error: str | None = None
    removed: int = 0
    released: int = 0
    skipped: list[str] = field(default_factory=list)  # why submissions were not sent


def _as_idle(
    where: str, ids: Sequence[str], entry: str, group: str, batch: str, cluster: int, now: float
) -> list[Glidein]:
    """A cluster just submitted to `where`, as the census would see it."""
    state = GlideinState.IDLE
    return [
        Glidein(g, entry, group, batch, cluster, proc, state, now, now, schedd=where)
        for proc, g in enumerate(ids)
    ]


@dataclass
class _EntryWork:
    """One entry's share of a plan, and where its glideins are."""

    entry: str
    state: HealthState
    releases: Sequence[ReleaseRequest]
    removals: Sequence[RemoveRequest]
    submits: Sequence[SubmitRequest]
    spread: Counter[str]  # factory schedd -> the entry's glideins there (grows as placed)
    stale: frozenset[str]  # factory schedds that did not answer the poll


class Provisioner:
    """Submits, removes and releases glideins for a Plan."""

    def __init__(
        self,
        config: ConfigSource,
        pool: Pool,
        state: StateDB,
        metrics: Metrics,
        clock: Clock,
        kit: PilotKit,
        tokens: TokenWriter,
        *,
        log_url: Callable[[], str] | None = None,
        max_entries: int = 8,
    ) -> None:
        self._config = config
        self._pool = pool
        self._state = state
        self._metrics = metrics
        self._clock = clock
        self._kit = kit
        self._tokens = tokens
        self._log_url = log_url or (lambda: config().http.base_url() + "/api/v1/logs")
        self._limiter = anyio.CapacityLimiter(max_entries)
        self.recovered = False
        # told of each cluster submitted: (schedd, its glideins as idle)
        self.on_submitted: Callable[[str, Sequence[Glidein]], None] | None = None

    async def prepare(self) -> None:
        """Build the pilot files; without a pilot every submission fails (and backs off)."""
        try:
            await anyio.to_thread.run_sync(self._kit.prepare)
        except (AglideinError, OSError) as exc:
            log.error("provision.pilot_unavailable", error=str(exc))

    def factory_schedd(self, name: str | None = None) -> Schedd:
        """A factory schedd (the first of `pool.factory_schedds` when not named)."""
        return self._pool.schedd(name or self._config().pool.schedds[0])

    async def recover(self) -> bool:
        """Settle batches left pending (crash, timed-out submit), each looked up on the
        factory schedd it was sent to (the first one for a batch of an older version).

        True when nothing is pending any more; until then nothing new is submitted.
        """
        pending = await self._state.pending_batches()
        if not pending:
            self.recovered = True
            return True
        config = self._config()
        by_schedd: dict[str, list[str]] = {}
        for batch in pending:
            where = str(batch.get("schedd") or config.pool.schedds[0])
            by_schedd.setdefault(where, []).append(str(batch["batch"]))
        settled = True
        for where, names in by_schedd.items():
            settled = await self._settle(config, where, names) and settled
        self.recovered = settled
        return settled

    async def _settle(self, config: Config, where: str, pending: Sequence[str]) -> bool:
        """Mark the batches sent to `where` submitted or failed; False when it did not answer."""
        batches = " || ".join(f"AglideinBatch == {quote(b)}" for b in pending)
        constraint = f"AglideinFactory == {quote(config.factory.name)} && ({batches})"
        try:
            ads = await self.factory_schedd(where).query(constraint, ["AglideinBatch", "ClusterId"])
        except CondorError as exc:
            log.warning(
                "provision.recover_failed", schedd=where, pending=len(pending), error=str(exc)
            )
            return False
        found: dict[str, int] = {}
        for ad in ads:
            cluster = ad.get("ClusterId")
            found[str(ad.get("AglideinBatch"))] = cluster if isinstance(cluster, int) else -1
        for name in pending:
            if name in found:
                await self._state.finish_batch(name, "submitted", cluster=found[name])
                log.info("provision.batch_found", batch=name, schedd=where)
            else:
                await self._state.finish_batch(name, "failed", detail=f"not on schedd {where}")
                log.info("provision.batch_absent", batch=name, schedd=where)
        return True

    async def act(
        self, plan: Plan, health: Mapping[str, EntryHealth], census: GlideinCensus
    ) -> dict[str, EntryOutcome]:
        """Carry out the plan's releases, removals and submissions; outcomes by entry."""
        config = self._config()
        outcomes: dict[str, EntryOutcome] = {}
        if plan.frozen or not census.factory_ok:
            log.warning("provision.frozen", cycle=plan.cycle, reason="pool_unreachable")
            return outcomes
        can_submit = self.recovered or await self.recover()
        # the same limits table as the policy, counted from the same census: a plan
        # that would overshoot (a bug, a config reloaded in between) is cut here
        headroom = Headroom(config, CensusCounts.of(census))
        entries = sorted(
            {r.entry for r in plan.submits}
            | {r.entry for r in plan.removals}
            | {r.entry for r in plan.releases}
        )
        now = self._clock.now()
        async with anyio.create_task_group() as tg:
            for entry in entries:
                outcome = outcomes[entry] = EntryOutcome()
                state = effective_state(config, health.get(entry), entry, now)
                tg.start_soon(
                    self._act_entry,
                    _EntryWork(
                        entry=entry,
                        state=state,
                        releases=[r for r in plan.releases if r.entry == entry],
                        removals=[r for r in plan.removals if r.entry == entry],
                        submits=[r for r in plan.submits if r.entry == entry] if can_submit else [],
                        spread=entry_spread(census.glideins, entry, config.pool.schedds),
                        stale=frozenset(census.stale_schedds),
                    ),
                    config,
                    headroom,
                    outcome,
                )
        if not can_submit and plan.submits:
            for request in plan.submits:
                outcomes[request.entry].skipped.append("pending_batches")
        return outcomes

    async def prune_tokens(self, census: GlideinCensus) -> int:
        """Delete token files of glideins the factory schedd no longer has (the cycle calls
        it after `act`, as bookkeeping that must not lose what `act` did)."""
        if not census.factory_ok:
            return 0
        live = {g.glidein_id for g in census.glideins}
        removed = await anyio.to_thread.run_sync(self._kit.prune_tokens, live)
        if removed:
            log.info("provision.tokens_pruned", count=removed)
        return removed

    async def _act_entry(
        self, work: _EntryWork, config: Config, headroom: Headroom, outcome: EntryOutcome
    ) -> None:
        async with self._limiter:
            first = config.pool.schedds[0]
            for release in work.releases:
                for where, ids in self._reachable(work, release.job_ids, first).items():
                    part = dataclasses.replace(release, job_ids=tuple(ids))
                    outcome.released += await self._release(self.factory_schedd(where), part)
            for removal in work.removals:
                for where, ids in self._reachable(work, removal.job_ids, first).items():
                    cut = dataclasses.replace(removal, job_ids=tuple(ids))
                    outcome.removed += await self._remove(self.factory_schedd(where), cut)
            if not work.submits:
                return
            if work.state is not HealthState.OK:
                outcome.skipped.append(work.state.value)
                log.info("provision.skipped", entry=work.entry, health=work.state.value)
                return
            await self._submit_entry(config, config.entry(work.entry), work, headroom, outcome)

    @staticmethod
    def _reachable(work: _EntryWork, keys: Sequence[str], first: str) -> dict[str, list[str]]:
        """Job ids by the schedd that holds them, without those of a schedd that did not
        answer the poll (frozen until it does)."""
        by_schedd = group_by_schedd(keys, first)
        for where in [w for w in by_schedd if w in work.stale]:
            log.info("provision.schedd_frozen", entry=work.entry, schedd=where)
            del by_schedd[where]
        return by_schedd

    async def _release(self, schedd: Schedd, request: ReleaseRequest) -> int:
        try:
            result = await schedd.act(JobAction.RELEASE, request.job_ids, reason=request.reason)
        except CondorError as exc:
            self._metrics.releases.labels(entry=request.entry, result="failure").inc(
                len(request.job_ids)
            )
            log.warning(
                "provision.release_failed", entry=request.entry, schedd=schedd.name, error=str(exc)
            )
            return 0
        self._metrics.releases.labels(entry=request.entry, result="success").inc(result.success)
        if result.failure:
            self._metrics.releases.labels(entry=request.entry, result="failure").inc(result.failure)
        log.info(
            "provision.released", entry=request.entry, schedd=schedd.name, count=result.success
        )
        return result.success

    async def _remove(self, schedd: Schedd, request: RemoveRequest) -> int:
        action = JobAction.REMOVE_X if request.force else JobAction.REMOVE
        labels = {"entry": request.entry, "reason": request.reason}
        try:
            result = await schedd.act(action, request.job_ids, reason=f"aglidein: {request.reason}")
        except CondorError as exc:
            self._metrics.removals.labels(**labels, result="failure").inc(len(request.job_ids))
            log.warning("provision.remove_failed", **labels, schedd=schedd.name, error=str(exc))
            return 0
        self._metrics.removals.labels(**labels, result="success").inc(result.success)
        if result.failure:
            self._metrics.removals.labels(**labels, result="failure").inc(result.failure)
        log.info(
            "provision.removed",
            **labels,
            schedd=schedd.name,
            count=result.success,
            force=request.force,
        )
        return result.success

    async def _submit_entry(
        self,
        config: Config,
        entry: EntryConfig,
        work: _EntryWork,
        headroom: Headroom,
        outcome: EntryOutcome,
    ) -> None:
        settings = entry.effective_submit(config.factory)
        per_cycle = settings.max_per_cycle
        refused: set[str] = set(work.stale)  # schedds that get none of this entry's clusters
        last_error: str | None = None
        for request in work.submits:
            room = headroom.room_for_new(request.group, entry.name)
            wanted = max(0, min(request.count, per_cycle, request.count if room is None else room))
            if wanted < request.count:
                outcome.skipped.append("limit")
            # reserve before the first await: other entries share the factory's headroom
            per_cycle -= wanted
            headroom.add(request.group, entry.name, idle=wanted)
            while wanted > 0:
                where = pick_schedd(config.pool.schedds, work.spread, refused)
                if where is None:  # an entry failure only when every schedd refused it
                    outcome.submit_error = last_error
                    if last_error is None:
                        outcome.skipped.append("factory_schedds_unavailable")
                    return
                size = min(wanted, settings.cluster_size)
                error = await self._submit_cluster(config, entry, request.group, size, where)
                if error is None:
                    wanted -= size
                    outcome.submitted += size
                    work.spread[where] += size
                    continue
                if not self.recovered:  # a timed-out submit: nothing more until settled
                    outcome.submit_error = error
                    return
                last_error = error
                refused.add(where)  # its share goes to the other schedds

    async def _submit_cluster(
        self, config: Config, entry: EntryConfig, group: str, size: int, where: str
    ) -> str | None:
        """Submit one cluster to factory schedd `where`; None, or why it failed."""
        now = self._clock.now()
        batch = uuid.uuid4().hex
        ids = [str(uuid.uuid4()) for _ in range(size)]
        try:
            group_config = next((g for g in config.groups if g.name == group), None)
            pilot = await anyio.to_thread.run_sync(self._kit.pilot_files, entry, group_config)
            files = await anyio.to_thread.run_sync(
                self._kit.write_tokens, self._tokens, config, entry, ids, now
            )
            rendered = render_submit(
                config,
                entry,
                group,
                batch,
                files,
                pilot,
                self._log_url(),
                str(self._kit.entry_dir(entry.name)),
                userlog=userlog_name(where, config.pool.schedds, _utc_day(now)),
            )
            description = SubmitDescription(
                commands=rendered.commands,
                queue_vars=rendered.queue_vars,
                itemdata=rendered.itemdata,
            )
        except (OSError, ValueError, AglideinError) as exc:
            self._metrics.submissions.labels(entry=entry.name, result="failure").inc(size)
            log.error("provision.prepare_failed", entry=entry.name, error=str(exc))
            return f"prepare: {exc}"
        await self._state.record_batch(batch, entry.name, group, size, now, schedd=where)
        try:
            result = await self.factory_schedd(where).submit(description)
        except CondorTimeout as exc:
            # the schedd may or may not have it: leave the batch pending, ask next cycle
            self.recovered = False
            self._metrics.submissions.labels(entry=entry.name, result="failure").inc(size)
            log.warning(
                "provision.submit_timeout",
                entry=entry.name,
                schedd=where,
                batch=batch,
                error=str(exc),
            )
            return str(exc)
        except CondorError as exc:
            await self._state.finish_batch(batch, "failed", detail=str(exc)[:500])
            await anyio.to_thread.run_sync(self._kit.remove_tokens, entry.name, ids)
            self._metrics.submissions.labels(entry=entry.name, result="failure").inc(size)
            log.warning(
                "provision.submit_failed",
                entry=entry.name,
                schedd=where,
                batch=batch,
                error=str(exc),
            )
            return str(exc)
        await self._state.finish_batch(batch, "submitted", cluster=result.cluster)
        if self.on_submitted is not None:
            self.on_submitted(
                where, _as_idle(where, ids, entry.name, group, batch, result.cluster, now)
            )
        self._metrics.submissions.labels(entry=entry.name, result="success").inc(result.count)
        log.info(
            "provision.submitted",
            entry=entry.name,
            group=group,
            schedd=where,
            batch=batch,
            cluster=result.cluster,
            count=result.count,
        )
        return None


def _utc_day(now: float) -> date:
    """The UTC day of `now` (it names the user log of the clusters submitted then)."""
    return datetime.fromtimestamp(now, UTC).date()
