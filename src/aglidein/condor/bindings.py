"""The real pool over htcondor2, every call in a killable worker process.

The bindings hold the GIL during network calls and have no usable timeout against a
silent server, so each call runs in an anyio worker process
(`anyio.to_process.run_sync(..., cancellable=True)`) under `anyio.fail_after(deadline)`:
past the deadline the worker is killed and `CondorTimeout` raised. A CapacityLimiter
bounds the number of workers. The worker functions below are module-level so they
pickle; they import htcondor2 themselves and return plain data only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_process
import structlog
from anyio import BrokenWorkerProcess

from aglidein.classad.facade import AdValue, ExprSyntaxError, parse_expr, quote
from aglidein.condor.api import (
    ActResult,
    Ad,
    Collector,
    JobAction,
    Schedd,
    ScheddLocation,
    SubmitDescription,
    SubmitResult,
)
from aglidein.config import Config, Deadlines
from aglidein.errors import CondorError, CondorTimeout

__all__ = ["BindingsCollector", "BindingsPool", "BindingsSchedd", "merge_groups"]

log = structlog.get_logger()
T = TypeVar("T")
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.-]+:\d{1,5}$")

# (kind, value, collector): ("local", "", c) | ("address", "<h:p>", c) | ("name", n, c)
Locator = tuple[str, str, str]


class ExprText(str):
    """An unevaluated ClassAd expression crossing the process boundary as text."""

    __slots__ = ()


# --- worker side (runs in the worker process) ----------------------------------------


def _plain(value: Any) -> Any:
    import classad2

    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is classad2.Value.Undefined or value is classad2.Value.Error:
        return ExprText(str(value).lower().rsplit(".", 1)[-1])
    return ExprText(str(value))


def _ad_to_dict(ad: Any) -> dict[str, Any]:
    return {name: _plain(ad[name]) for name in ad}


def _guarded(fn: Callable[..., T], *args: Any) -> T:
    """Map every binding exception to CondorError (pickled back to the daemon)."""
    try:
        return fn(*args)
    except CondorError:
        raise
    except Exception as exc:
        raise CondorError(f"{type(exc).__name__}: {exc}") from None


def _schedd(locator: Locator) -> Any:
    import classad2
    import htcondor2

    kind, value, collector = locator
    if kind == "local":
        return htcondor2.Schedd()
    if kind == "address":
        return htcondor2.Schedd(
            classad2.ClassAd({"MyAddress": value, "CondorVersion": htcondor2.version()})
        )
    ad = htcondor2.Collector(collector).locate(htcondor2.DaemonType.Schedd, value)
    if ad is None:
        raise CondorError(f"the collector knows no schedd named {value!r}")
    return htcondor2.Schedd(ad)


def _schedd_query_impl(
    locator: Locator, constraint: str, projection: list[str], limit: int, opts: int
) -> list[dict[str, Any]]:
    import htcondor2

    schedd = _schedd(locator)
    ads = schedd.query(constraint, projection, limit=limit, opts=htcondor2.QueryOpt(opts))
    if opts or not projection:
        return [_ad_to_dict(ad) for ad in ads]
    # the schedd adds ServerTime to projected ads; the Protocol promises the projection
    wanted = {name.lower() for name in projection}
    return [{n: _plain(ad[n]) for n in ad if n.lower() in wanted} for ad in ads]


def _schedd_submit_impl(
    locator: Locator, commands: dict[str, str], rows: list[dict[str, str]]
) -> tuple[int, int, int]:
    import htcondor2

    schedd = _schedd(locator)
    description = htcondor2.Submit(commands)
    if rows:
        result = schedd.submit(description, itemdata=iter(rows))
    else:
        result = schedd.submit(description, count=1)
    return int(result.cluster()), int(result.first_proc()), int(result.num_procs())


def _schedd_act_impl(
    locator: Locator, action: str, job_ids: list[str], reason: str
) -> tuple[int, int, int]:
    import htcondor2

    schedd = _schedd(locator)
    ad = schedd.act(htcondor2.JobAction[action], job_ids, reason=(reason, 0) if reason else None)
    if ad is None:
        return 0, 0, len(job_ids)
    success = int(ad.get("TotalSuccess", 0)) + int(ad.get("TotalAlreadyDone", 0))
    failure = sum(
        int(ad.get(k, 0)) for k in ("TotalError", "TotalBadStatus", "TotalPermissionDenied")
    )
    return success, failure, int(ad.get("TotalNotFound", 0))


def _schedd_edit_impl(locator: Locator, job_ids: list[str], attr: str, value: str) -> int:
    return int(_schedd(locator).edit(job_ids, attr, value))


def _startds_impl(collector: str, constraint: str, projection: list[str]) -> list[dict[str, Any]]:
    import htcondor2

    ads = htcondor2.Collector(collector).query(
        htcondor2.AdType.Startd, constraint, projection or None
    )
    return [_ad_to_dict(ad) for ad in ads]


def _locate_impl(collector: str, names: list[str]) -> list[tuple[str, str]]:
    import htcondor2

    pool = htcondor2.Collector(collector)
    constraint = " || ".join(f"Name == {quote(n)}" for n in names) if names else "true"
    ads = pool.query(htcondor2.AdType.Schedd, constraint, ["Name", "MyAddress"])
    return [(str(ad["Name"]), str(ad["MyAddress"])) for ad in ads]


# the entry points the daemon sends to workers (module level: pickled by name)
def _schedd_query(*args: Any) -> list[dict[str, Any]]:
    return _guarded(_schedd_query_impl, *args)


def _schedd_submit(*args: Any) -> tuple[int, int, int]:
    return _guarded(_schedd_submit_impl, *args)


def _schedd_act(*args: Any) -> tuple[int, int, int]:
    return _guarded(_schedd_act_impl, *args)


def _schedd_edit(*args: Any) -> int:
    return _guarded(_schedd_edit_impl, *args)


def _startds(*args: Any) -> list[dict[str, Any]]:
    return _guarded(_startds_impl, *args)


def _locate(*args: Any) -> list[tuple[str, str]]:
    return _guarded(_locate_impl, *args)


# --- daemon side ------------------------------------------------------------------------


def _from_worker(ad: Mapping[str, Any]) -> dict[str, AdValue]:
    out: dict[str, AdValue] = {}
    for name, value in ad.items():
        out[name] = _value_from_worker(value)
    return out


def _value_from_worker(value: Any) -> AdValue:
    if isinstance(value, ExprText):
        try:
            return parse_expr(str(value))
        except ExprSyntaxError:
            return str(value)
    if isinstance(value, list):
        return [_value_from_worker(v) for v in value]
    return value  # type: ignore[no-any-return]


class _Caller:
    """Runs worker functions under a deadline with a bounded number of processes."""

    def __init__(self, deadlines: Callable[[], Deadlines], limiter: anyio.CapacityLimiter) -> None:
        self.deadlines = deadlines
        self.limiter = limiter

    async def call(self, what: str, deadline: float, fn: Callable[..., T], *args: Any) -> T:
        try:
            with anyio.fail_after(deadline):
                return await anyio.to_process.run_sync(
                    fn, *args, cancellable=True, limiter=self.limiter
                )
        except TimeoutError:
            log.warning("condor.timeout", call=what, deadline_s=deadline)
            raise CondorTimeout(f"{what}: no answer within {deadline:g}s") from None
        except CondorError as exc:
            raise CondorError(f"{what}: {exc}") from None
        except BrokenWorkerProcess as exc:
            raise CondorError(f"{what}: worker process failed: {exc}") from None


class BindingsSchedd:
    """A schedd reached through htcondor2 (implements `condor.api.Schedd`)."""

    def __init__(self, name: str, locator: Locator, caller: _Caller) -> None:
        self._name = name
        self._locator = locator
        self._caller = caller

    @property
    def name(self) -> str:
        """The schedd as it was named in the config."""
        return self._name

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        """Job ads matching `constraint`, only the `projection` attributes (all if empty)."""
        ads = await self._caller.call(
            f"query {self._name}",
            self._caller.deadlines().schedd_query,
            _schedd_query,
            self._locator,
            constraint,
            list(projection),
            limit,
            0,
        )
        return [_from_worker(ad) for ad in ads]

    async def query_autoclusters(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        """One ad per group of jobs alike in `projection` (GroupBy), with `JobCount` and
        `AutoClusterId`; with no projection, the schedd's autoclusters (which it builds
        only for jobs its negotiator has considered).

        The schedd applies a GroupBy query's constraint to the group ads, not to the jobs,
        so the attributes the constraint reads are grouped by too, then merged away."""
        if not projection:
            return await self._query_groups(constraint, [], 0x01)  # QueryOpt.AutoCluster
        try:
            mine, _ = parse_expr(constraint or "true").references()
        except ExprSyntaxError as exc:
            raise CondorError(f"autoclusters {self._name}: invalid constraint: {exc}") from None
        wanted = {name.lower(): name for name in projection}
        group_by = [*projection, *sorted(n for n in mine if n.lower() not in wanted)]
        groups = await self._query_groups(constraint, group_by, 0x02)  # QueryOpt.GroupBy
        return merge_groups(groups, projection)

    async def _query_groups(self, constraint: str, projection: list[str], opts: int) -> list[Ad]:
        ads = await self._caller.call(
            f"autoclusters {self._name}",
            self._caller.deadlines().schedd_query,
            _schedd_query,
            self._locator,
            constraint,
            projection,
            -1,
            opts,
        )
        return [_from_worker(ad) for ad in ads]

    async def submit(self, description: SubmitDescription) -> SubmitResult:
        """Submit one cluster: one proc per itemdata row."""
        rows = [dict(row) for row in description.itemdata] if description.queue_vars else []
        cluster, first, count = await self._caller.call(
            f"submit {self._name}",
            self._caller.deadlines().submit,
            _schedd_submit,
            self._locator,
            description.as_dict(),
            rows,
        )
        return SubmitResult(cluster=cluster, first_proc=first, count=count)

    async def act(
        self, action: JobAction, job_ids: Sequence[str], *, reason: str = ""
    ) -> ActResult:
        """Hold, release, remove or removex the given `cluster.proc` ids."""
        if not job_ids:
            return ActResult(success=0)
        success, failure, not_found = await self._caller.call(
            f"{action.value} {self._name}",
            self._caller.deadlines().act,
            _schedd_act,
            self._locator,
            action.value,
            list(job_ids),
            reason,
        )
        return ActResult(success=success, failure=failure, not_found=not_found)

    async def edit(self, job_ids: Sequence[str], attr: str, value: str) -> int:
        """Set `attr` to the ClassAd expression `value` on the jobs; the count edited."""
        return await self._caller.call(
            f"edit {self._name}",
            self._caller.deadlines().act,
            _schedd_edit,
            self._locator,
            list(job_ids),
            attr,
            value,
        )


def merge_groups(groups: Sequence[Ad], projection: Sequence[str]) -> list[Ad]:
    """GroupBy ads reduced to the `projection` attributes (spelled as asked), groups that
    became alike summed: one ad per distinct key with `JobCount` and `AutoClusterId`."""
    merged: dict[tuple[str, ...], dict[str, AdValue]] = {}
    for group in groups:
        lowered = {name.lower(): value for name, value in group.items()}
        ad: dict[str, AdValue] = {
            name: lowered[name.lower()] for name in projection if name.lower() in lowered
        }
        key = tuple(f"{name}={ad[name]!r}" for name in projection if name in ad)
        count = lowered.get("jobcount", 0)
        row = merged.setdefault(key, {**ad, "JobCount": 0, "AutoClusterId": len(merged)})
        row["JobCount"] = int(str(row["JobCount"])) + (count if isinstance(count, int) else 0)
    return list(merged.values())


class BindingsCollector:
    """The pool collector through htcondor2 (implements `condor.api.Collector`)."""

    def __init__(self, address: str, caller: _Caller) -> None:
        self._address = address
        self._caller = caller

    async def query_startds(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        """Startd slot ads."""
        ads = await self._caller.call(
            f"startds {self._address}",
            self._caller.deadlines().collector_query,
            _startds,
            self._address,
            constraint,
            list(projection),
        )
        return [_from_worker(ad) for ad in ads]

    async def locate_schedds(self, names: Sequence[str] = ()) -> list[ScheddLocation]:
        """Schedds by name (every schedd the collector knows when `names` is empty)."""
        found = await self._caller.call(
            f"locate {self._address}",
            self._caller.deadlines().collector_query,
            _locate,
            self._address,
            list(names),
        )
        return [ScheddLocation(name=name, address=address) for name, address in found]


class BindingsPool:
    """A real pool: deadlines come from the live config at each call."""

    def __init__(self, config: Callable[[], Config], *, max_workers: int = 4) -> None:
        self._config = config
        self._caller = _Caller(
            lambda: config().factory.deadlines, anyio.CapacityLimiter(max_workers)
        )

    def collector(self) -> Collector:
        """The collector of `pool.collector`."""
        return BindingsCollector(self._config().pool.collector, self._caller)

    def schedd(self, location: str | ScheddLocation) -> Schedd:
        """A schedd by `host:port`, sinful string, name (via the collector) or `local`."""
        collector = self._config().pool.collector
        if isinstance(location, ScheddLocation):
            address = location.address
            if _HOST_PORT.match(address):
                address = f"<{address}>"
            return BindingsSchedd(location.name, ("address", address, collector), self._caller)
        if location == "local":
            return BindingsSchedd(location, ("local", "", collector), self._caller)
        if location.startswith("<"):
            return BindingsSchedd(location, ("address", location, collector), self._caller)
        if _HOST_PORT.match(location):
            return BindingsSchedd(location, ("address", f"<{location}>", collector), self._caller)
        return BindingsSchedd(location, ("name", location, collector), self._caller)

    async def aclose(self) -> None:
        """Nothing to close: idle worker processes end with the event loop."""
