"""The poller: every cycle, the demand of each group's schedds and the glidein census.

All sources are asked concurrently, each under its deadline. A schedd that fails keeps
its last good demand, marked stale (the policy drops it past `factory.stale_cycles`); a
failing collector gives a census with `collector_ok` False, which freezes actions for
the cycle. Every factory schedd is asked (`pool.factory_schedds`); one that fails keeps
its last known glideins in the census (`stale_schedds`: counted against the limits, not
acted on); `factory_ok` is False (all frozen) when none answered or a failing one was
never heard from. No failure of one source stops the others.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import anyio
import structlog

from aglidein.clock import Clock
from aglidein.condor.api import Ad, Pool
from aglidein.config import Config
from aglidein.core.demand import (
    exact_attrs,
    group_projection,
    group_shapes,
    schedd_projection,
)
from aglidein.core.model import (
    DemandSnapshot,
    Glidein,
    GlideinCensus,
    GlideinState,
    ScheddDemand,
    Slot,
)
from aglidein.core.shaper import Shaper
from aglidein.errors import CondorTimeout
from aglidein.services.metrics import Metrics
from aglidein.services.poller_ads import (
    GLIDEIN_PROJECTION,
    OLD_FACTORY_PROJECTION,
    SLOT_PROJECTION,
    factory_constraint,
    glideins_from_ads,
    group_weights,
    old_glideins_from_ads,
    slots_constraint,
    slots_from_ads,
)
from aglidein.services.runtime import ConfigSource

__all__ = ["COLLECTOR_SCHEDDS", "Poller", "SourceFailure", "demand_constraint"]

log = structlog.get_logger()

COLLECTOR_SCHEDDS = "collector"  # in a group's schedds: every schedd the collector knows


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """One source that did not answer this cycle, and why."""

    source: str  # "schedd <name>", "collector", "factory schedd <name>"
    error: str


def demand_constraint(config: Config, groups: Sequence[str]) -> str:
    """What to ask a schedd for: idle and running jobs any of these groups may want."""
    constraints = [g.job_constraint for g in config.groups if g.name in groups]
    wanted = " || ".join(f"({c})" for c in constraints) if constraints else "true"
    return f"(JobStatus == 1 || JobStatus == 2) && ({wanted})"


def _reason(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, CondorTimeout | TimeoutError) else "error"


def _describe(exc: BaseException, deadline: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {deadline:g}s"
    return str(exc) or type(exc).__name__


@dataclass
class _Results:
    demand: list[ScheddDemand] = field(default_factory=list)
    glideins: tuple[Glidein, ...] = ()
    slots: tuple[Slot, ...] = ()
    old_glideins: dict[str, int] = field(default_factory=dict)
    stale_schedds: dict[str, str] = field(default_factory=dict)
    factory_ok: bool = True
    collector_ok: bool = True
    collector_error: str | None = None
    factory_error: str | None = None
    errors: list[SourceFailure] = field(default_factory=list)


@dataclass(frozen=True)
class _DemandAds:
    """A schedd's answer for demand: per-job ads, or GroupBy ads with their job counts."""

    jobs: Sequence[Ad] = ()
    groups: Sequence[tuple[Ad, int]] = ()


class Poller:
    """Polls the pool once per cycle; keeps last good demand between cycles."""

    def __init__(self, config: ConfigSource, pool: Pool, metrics: Metrics, clock: Clock) -> None:
        self._config = config
        self._pool = pool
        self._metrics = metrics
        self._clock = clock
        self._last: dict[tuple[str, str], ScheddDemand] = {}
        self._extra: dict[str, tuple[str, ...]] = {}  # attributes learned from expressions
        self._per_job: set[str] = set()  # schedds whose GroupBy query failed
        self._known: dict[str, tuple[Glidein, ...]] = {}  # factory schedd -> last glideins
        self.failures: tuple[SourceFailure, ...] = ()

    async def poll(self, cycle: int) -> tuple[DemandSnapshot, GlideinCensus]:
        """One cycle's demand and census; failures are in `self.failures`."""
        config = self._config()
        results = _Results()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._poll_demand, config, results)
            tg.start_soon(self._poll_slots, config, results)
            tg.start_soon(self._poll_glideins, config, results)
        self.failures = tuple(results.errors)
        census = GlideinCensus(
            glideins=results.glideins,
            slots=results.slots,
            factory_ok=results.factory_ok,
            collector_ok=results.collector_ok,
            last_error="; ".join(f"{f.source}: {f.error}" for f in results.errors) or None,
            taken_at=self._clock.now(),
            collector_error=results.collector_error,
            factory_error=results.factory_error,
            old_glideins=MappingProxyType(results.old_glideins),
            stale_schedds=MappingProxyType(results.stale_schedds),
        )
        self._record_census(config, census)
        log.debug(
            "poll.done", cycle=cycle, schedds=len(results.demand), failures=len(results.errors)
        )
        return DemandSnapshot(tuple(results.demand)), census

    # --- demand -------------------------------------------------------------------------

    async def _schedds_by_name(
        self, config: Config, results: _Results
    ) -> dict[str, list[str]] | None:
        """schedd name → groups that poll it; None when the collector could not list them."""
        by_name: dict[str, list[str]] = {}
        need_collector = any(COLLECTOR_SCHEDDS in g.schedds for g in config.groups)
        known: list[str] = []
        if need_collector:
            deadline = config.factory.deadlines.collector_query
            try:
                with anyio.fail_after(deadline):
                    known = [loc.name for loc in await self._pool.collector().locate_schedds()]
            except Exception as exc:  # CondorError, TimeoutError, or an adapter bug: not fatal
                results.errors.append(
                    SourceFailure("collector", f"listing schedds: {_describe(exc, deadline)}")
                )
                return None
        for group in config.groups:
            names = [n for n in group.schedds if n != COLLECTOR_SCHEDDS]
            if COLLECTOR_SCHEDDS in group.schedds:
                names.extend(known)
            for name in dict.fromkeys(names):
                by_name.setdefault(name, []).append(group.name)
        return by_name

    async def _poll_demand(self, config: Config, results: _Results) -> None:
        by_name = await self._schedds_by_name(config, results)
        if by_name is None:  # keep every last good row, one cycle staler
            for key, last in list(self._last.items()):
                results.demand.append(self._stale(key, last, "collector unreachable"))
            return
        async with anyio.create_task_group() as tg:
            for name, groups in by_name.items():
                tg.start_soon(self._poll_schedd, config, name, groups, results)

    def _stale(self, key: tuple[str, str], last: ScheddDemand, error: str) -> ScheddDemand:
        row = ScheddDemand(
            schedd=last.schedd,
            group=last.group,
            shapes=last.shapes,
            ok=False,
            stale_cycles=last.stale_cycles + 1,
            last_error=error,
            taken_at=last.taken_at,
        )
        self._last[key] = row
        self._metrics.schedd_stale_cycles.labels(schedd=last.schedd).set(row.stale_cycles)
        return row

    async def _poll_schedd(
        self, config: Config, name: str, groups: list[str], results: _Results
    ) -> None:
        deadline = config.factory.deadlines.schedd_query
        projection = tuple(
            dict.fromkeys((*schedd_projection(config, groups), *self._extra.get(name, ())))
        )
        started = time.monotonic()
        try:
            with anyio.fail_after(deadline):
                ads = await self._demand_ads(name, demand_constraint(config, groups), projection)
        except Exception as exc:  # CondorError, TimeoutError, or an adapter bug: not fatal
            error = _describe(exc, deadline)
            self._metrics.schedd_query_failures.labels(schedd=name, reason=_reason(exc)).inc()
            log.warning("poll.schedd_failed", schedd=name, error=error)
            results.errors.append(SourceFailure(f"schedd {name}", error))
            for group in groups:
                key = (name, group)
                last = self._last.get(key) or ScheddDemand(name, group, (), ok=False)
                results.demand.append(self._stale(key, last, error))
            return
        finally:
            self._metrics.schedd_query_duration.labels(schedd=name).observe(
                time.monotonic() - started
            )
        rows = await anyio.to_thread.run_sync(self._shape, config, name, groups, projection, ads)
        self._metrics.schedd_stale_cycles.labels(schedd=name).set(0)
        for row in rows:
            self._last[(name, row.group)] = row
            results.demand.append(row)

    async def _demand_ads(
        self, name: str, constraint: str, projection: tuple[str, ...]
    ) -> _DemandAds:
        """The jobs' projected ads. Asked as one GroupBy ad per shape (the same shapes for
        a fraction of the bytes and time, see bench/realpool_demand.py), each counted as
        the jobs it stands for; per job when the schedd cannot group (then per job from
        now on, if that works)."""
        schedd = self._pool.schedd(name)
        if name not in self._per_job:
            try:
                groups = await schedd.query_autoclusters(constraint, projection)
                return _DemandAds(groups=group_weights(groups))
            except CondorTimeout:
                raise
            except Exception as exc:  # CondorError, an old schedd, a double without GroupBy
                log.info("poll.group_by_failed", schedd=name, error=str(exc) or repr(exc))
                ads = await schedd.query(constraint, projection)
                self._per_job.add(name)
                return _DemandAds(jobs=ads)
        return _DemandAds(jobs=await schedd.query(constraint, projection))

    def _shape(
        self,
        config: Config,
        name: str,
        groups: list[str],
        projection: tuple[str, ...],
        ads: _DemandAds,
    ) -> list[ScheddDemand]:
        shaper = Shaper(projection, exact_attrs(config, groups))
        if ads.jobs:
            shaper.add(ads.jobs)
        shaper.add_weighted(ads.groups)
        learned = set(shaper.names) - {p.lower() for p in projection}
        if learned:
            self._extra[name] = tuple(sorted({*self._extra.get(name, ()), *learned}))
        now = self._clock.now()
        return [
            ScheddDemand(
                schedd=name,
                group=group.name,
                shapes=group_shapes(shaper.counts(), group_projection(group), group.job_constraint),
                taken_at=now,
            )
            for group in config.groups
            if group.name in groups
        ]

    # --- census -------------------------------------------------------------------------

    async def _poll_slots(self, config: Config, results: _Results) -> None:
        deadline = config.factory.deadlines.collector_query
        name = config.factory.name
        try:
            old_factory = config.migration.gwms_factory
            projection = SLOT_PROJECTION + (OLD_FACTORY_PROJECTION if old_factory else ())
            with anyio.fail_after(deadline):
                ads = await self._pool.collector().query_startds(
                    slots_constraint(name, old_factory), projection
                )
        except Exception as exc:  # CondorError, TimeoutError, or an adapter bug: not fatal
            results.collector_ok = False
            results.collector_error = _describe(exc, deadline)
            results.errors.append(SourceFailure("collector", _describe(exc, deadline)))
            self._metrics.collector_up.set(0)
            log.warning("poll.collector_failed", error=_describe(exc, deadline))
            return
        self._metrics.collector_up.set(1)
        results.slots = slots_from_ads(ads, self._clock.now(), name)
        results.old_glideins = old_glideins_from_ads(
            ads, config.migration.gwms_factory, config.old_entry_names()
        )

    async def _poll_glideins(self, config: Config, results: _Results) -> None:
        """Every factory schedd, concurrently. One that fails adds its last known glideins
        (counted, not acted on: `census.stale_schedds`); the census is not ok (every action
        frozen) when none answered or one never has since the daemon started."""
        names = config.pool.schedds
        found: dict[str, tuple[Glidein, ...]] = {}
        async with anyio.create_task_group() as tg:
            for where in names:
                tg.start_soon(self._poll_factory_schedd, config, where, found, results)
        self._known = {n: g for n, g in self._known.items() if n in names}
        self._known.update(found)
        glideins: list[Glidein] = []
        for where in names:
            glideins.extend(self._known.get(where, ()))
            if where not in found and where not in self._known:
                results.factory_ok = False  # its glideins are unknown: never over-submit
        if not found:
            results.factory_ok = False
        if not results.factory_ok:
            results.factory_error = "; ".join(
                f"{n}: {e}" if len(names) > 1 else e for n, e in results.stale_schedds.items()
            )
            return  # no census to act on (nor to count from)
        results.glideins = tuple(glideins)

    async def _poll_factory_schedd(
        self,
        config: Config,
        where: str,
        found: dict[str, tuple[Glidein, ...]],
        results: _Results,
    ) -> None:
        deadline = config.factory.deadlines.schedd_query
        name = config.factory.name
        try:
            with anyio.fail_after(deadline):
                ads = await self._pool.schedd(where).query(
                    factory_constraint(name), GLIDEIN_PROJECTION
                )
        except Exception as exc:  # CondorError, TimeoutError, or an adapter bug: not fatal
            error = _describe(exc, deadline)
            results.stale_schedds[where] = error
            results.errors.append(SourceFailure(f"factory schedd {where}", error))
            self._metrics.factory_schedd_up.labels(schedd=where).set(0)
            log.warning("poll.factory_schedd_failed", schedd=where, error=error)
            return
        self._metrics.factory_schedd_up.labels(schedd=where).set(1)
        found[where] = glideins_from_ads(ads, name, schedd=where)

    def note_submitted(self, schedd: str, glideins: Sequence[Glidein]) -> None:
        """Glideins just submitted to `schedd`: counted with its last known ones should it
        fail the next poll (an answer replaces them all)."""
        if schedd in self._known:
            self._known[schedd] = (*self._known[schedd], *glideins)

    def _record_census(self, config: Config, census: GlideinCensus) -> None:
        if not census.factory_ok:
            return
        per_schedd = Counter(g.schedd for g in census.glideins)
        for where in config.pool.schedds:
            self._metrics.factory_schedd_glideins.labels(schedd=where).set(per_schedd[where])
        counts = Counter((g.entry, g.state) for g in census.glideins)
        for entry in config.entries:
            for state in GlideinState:
                self._metrics.glideins.labels(entry=entry.name, state=state.value).set(
                    counts.get((entry.name, state), 0)
                )
