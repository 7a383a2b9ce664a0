"""`aglidein plan`: one decision cycle, nothing submitted (DESIGN §12).

With `--jobs` it runs offline on `condor_q -json` dumps (a file counts for every group; a
directory holds one file per schedd, named after it), read as a stream with projection.
Without it, it polls the pool from the config (the simulated one when `pool.simulate`
is set) and exits 1 naming every source it could not reach. Either way it decides as the
daemon would: with the entry health the daemon left in the state DB (operator disable
and drain, backoff), the scheduled downtimes stored there, and with the held glideins
the daemon would release seen as idle.
It never creates a state directory or database.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aglidein.config import Config, load_config
from aglidein.errors import AglideinError
from aglidein.ownership import expected_owner, foreign_owners, resolve_job_owner

if TYPE_CHECKING:  # the planning machinery (numpy, the poller) loads when a plan is made
    from aglidein.condor.api import Ad, Pool
    from aglidein.core.model import (
        CredentialState,
        DemandSnapshot,
        GlideinCensus,
        Plan,
    )
    from aglidein.services.cycle_memory import StoredCycle

__all__ = ["PlanError", "register", "run_plan"]


class PlanError(AglideinError):
    """The plan could not be made (unreachable source, unreadable dump)."""


def register(subparsers: Any) -> None:
    """Add `plan`."""
    parser = subparsers.add_parser("plan", help="one decision cycle, nothing submitted")
    parser.add_argument("--config", help="the YAML config file (required without --url)")
    parser.add_argument(
        "--url", help="ask the running daemon at URL (its last cycle) instead of planning"
    )
    parser.add_argument("--token-file", help="with --url: a file holding the read token")
    parser.add_argument("--jobs", help="condor_q -json dump, or a directory of one per schedd")
    parser.add_argument("--startds", help="condor_status -json dump of glidein slots")
    parser.add_argument("--glideins", help="condor_q -json dump of the factory schedd")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run_plan)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"parse_s": 0.0, "shape_s": 0.0}

    def add(self, stage: str, since: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - since


def _dump_files(jobs: Path) -> dict[str, Path]:
    if jobs.is_dir():
        return {
            (p.name[:-5] if p.name.endswith(".json") else p.name): p
            for p in sorted(jobs.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }
    return {jobs.stem: jobs} if jobs.exists() else {}


def _offline_demand(config: Config, jobs: Path, timer: _Timer) -> DemandSnapshot:
    from aglidein.core.demand import (
        exact_attrs,
        group_projection,
        group_shapes,
        schedd_projection,
    )
    from aglidein.core.model import DemandSnapshot, ScheddDemand
    from aglidein.core.shaper import Shaper
    from aglidein.dumps import shape_dump
    from aglidein.services.poller import COLLECTOR_SCHEDDS

    files = _dump_files(jobs)
    single = not jobs.is_dir()
    rows: list[ScheddDemand] = []
    for schedd, path in files.items():
        groups = [
            g
            for g in config.groups
            if single or schedd in g.schedds or COLLECTOR_SCHEDDS in g.schedds
        ]
        if not groups:
            continue
        names = [g.name for g in groups]
        shaper = Shaper(schedd_projection(config, names), exact_attrs(config, names))
        started = time.perf_counter()
        shape_dump(path, shaper)  # decoding and counting: parse_s
        timer.add("parse_s", started)
        started = time.perf_counter()
        for group in groups:
            shapes = group_shapes(shaper.counts(), group_projection(group), group.job_constraint)
            rows.append(ScheddDemand(schedd=schedd, group=group.name, shapes=shapes))
        timer.add("shape_s", started)
    return DemandSnapshot(tuple(rows))


def _offline_census(config: Config, args: argparse.Namespace, now: float) -> GlideinCensus:
    from aglidein.core.model import GlideinCensus
    from aglidein.dumps import read_ads
    from aglidein.services.poller_ads import (
        glideins_from_ads,
        old_glideins_from_ads,
        slots_from_ads,
    )

    name = config.factory.name
    glideins = glideins_from_ads(read_ads(Path(args.glideins)), name) if args.glideins else ()
    startds = read_ads(Path(args.startds)) if args.startds else []
    slots = slots_from_ads(startds, now, name)
    old = old_glideins_from_ads(startds, config.migration.gwms_factory, config.old_entry_names())
    return GlideinCensus(glideins=glideins, slots=slots, taken_at=now, old_glideins=old)


def _open_pool(config: Config) -> Pool:
    try:
        condor = importlib.import_module("aglidein.condor")
        opener = cast("Callable[[Config], Pool]", condor.open_pool)
    except (ImportError, AttributeError):
        raise PlanError(
            "a live plan needs the HTCondor adapter (aglidein.condor.open_pool), which this "
            "build lacks; pass --jobs DUMP for an offline plan"
        ) from None
    try:
        return opener(config)
    except AglideinError:
        raise
    except Exception as exc:
        raise PlanError(f"cannot open the pool: {exc}") from None


async def _live(config: Config, timer: _Timer) -> tuple[DemandSnapshot, GlideinCensus]:
    import anyio

    from aglidein.clock import SystemClock
    from aglidein.services.metrics import Metrics
    from aglidein.services.poller import Poller

    pool = _open_pool(config)
    deadlines = config.factory.deadlines
    started = time.perf_counter()
    try:
        poller = Poller(lambda: config, pool, Metrics(), SystemClock())
        with anyio.fail_after(deadlines.collector_query + deadlines.schedd_query + 10):
            demand, census = await poller.poll(0)
        if census.factory_ok:
            await _warn_foreign_owners(config, pool)
    finally:
        await pool.aclose()
    timer.add("parse_s", started)
    if poller.failures:
        raise PlanError("\n".join(f"cannot reach {f.source}: {f.error}" for f in poller.failures))
    return demand, census


async def _warn_foreign_owners(config: Config, pool: Pool) -> None:
    """Warn when glidein jobs on the factory schedd belong to another user than expected."""
    import anyio

    from aglidein.services.poller_ads import factory_constraint

    ads: list[Ad] = []
    for name in config.pool.schedds:
        try:
            with anyio.fail_after(config.factory.deadlines.schedd_query):
                schedd = pool.schedd(name)
                ads.extend(await schedd.query(factory_constraint(config.factory.name), ["Owner"]))
        except (AglideinError, TimeoutError):
            continue  # the poll just worked; a failure here only loses the warning
    expected = expected_owner(config)
    foreign = foreign_owners(expected, (ad.get("Owner") for ad in ads))
    if foreign:
        print(
            f"warning: glidein jobs on the factory schedd are owned by {', '.join(foreign)}, "
            f"not {expected!r}: aglidein must run as the user that owns its glidein jobs "
            "(or as root with factory.job_owner naming it)",
            file=sys.stderr,
        )


def _job_owner_warning(config: Config) -> None:
    try:
        resolve_job_owner(config, strict=True)
    except AglideinError as exc:
        print(f"warning: {exc}", file=sys.stderr)


def _credentials(config: Config) -> dict[str, CredentialState]:
    """What the credential files say now (the renewer's view, without renewing)."""
    from aglidein.core.model import CredentialState
    from aglidein.credentials import read_credential

    out: dict[str, CredentialState] = {}
    for credential in config.credentials:
        try:
            reading = read_credential(credential)
        except AglideinError as exc:
            out[credential.name] = CredentialState(
                credential.name,
                credential.type,
                None,
                credential.refreshable,
                ok=False,
                last_error=str(exc),
            )
        else:
            out[credential.name] = CredentialState(
                credential.name, credential.type, reading.expires, credential.refreshable
            )
    return out


def _stored_cycle(config: Config) -> StoredCycle | None:
    """What the daemon left in its state DB; None (and a warning) when it cannot be read."""
    from aglidein.services.cycle_memory import stored_cycle

    try:
        return stored_cycle(Path(config.factory.state_dir))
    except AglideinError as exc:
        print(
            f"warning: the daemon's state not read, planning as if every entry were healthy "
            f"and no cycle had run: {exc}",
            file=sys.stderr,
        )
        return None


def make_plan(
    config: Config, args: argparse.Namespace, *, now: float | None = None
) -> tuple[Plan, dict[str, float]]:
    """The plan the daemon's next cycle would make, and the wall time of each stage.

    The same `core.cycle.plan_cycle` as the daemon, from what the daemon left in the
    state DB: entry health, policy memory, removal cycles, glideins that reported,
    scheduled downtimes.
    `now` is the wall clock unless given (tests).
    """
    import anyio

    from aglidein.core.cycle import CycleMemory, plan_cycle
    from aglidein.core.match_counts import count_demand

    now = time.time() if now is None else now
    timer = _Timer()
    if args.jobs:
        # millions of short-lived acyclic dicts: the cycle collector would only rescan them
        gc.disable()
        try:
            demand = _offline_demand(config, Path(args.jobs), timer)
        finally:
            gc.enable()
        census = _offline_census(config, args, now)
    else:
        demand, census = anyio.run(_live, config, timer)
        if args.glideins or args.startds:
            offline = _offline_census(config, args, now)
            census = dataclasses.replace(
                census,
                glideins=offline.glideins or census.glideins,
                slots=offline.slots or census.slots,
                old_glideins=offline.old_glideins if args.startds else census.old_glideins,
            )
    started = time.perf_counter()
    counts = count_demand(config, demand, now)
    timer.add("match_s", started)
    stored = _stored_cycle(config)
    started = time.perf_counter()
    planned = plan_cycle(
        config,
        demand,
        census,
        _credentials(config),
        stored.memory if stored is not None else CycleMemory(),
        now,
        reported=stored.reported if stored is not None else None,
        counts=counts,
        downtimes=stored.downtimes if stored is not None else (),
    )
    timer.add("decide_s", started)
    return planned.plan, timer.seconds


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan; exit 1 when a source or dump cannot be read."""
    if args.url:
        if args.jobs or args.startds or args.glideins:
            raise PlanError("--url shows the daemon's plan: no --jobs, --startds or --glideins")
        return _plan_from_daemon(args)
    if not args.config:
        raise PlanError("say what to plan from: --config FILE, or --url URL of a running daemon")
    loaded = load_config(args.config)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.jobs:
        _job_owner_warning(loaded.config)
    plan, timing = make_plan(loaded.config, args)
    if args.json:
        # orjson writes the (flat) dataclasses as objects and tuples as lists, as
        # dataclasses.asdict would, without its deep copies (0.5 s for 2,000 entries)
        out = {
            "decisions": [d.as_dict() for d in plan.decisions],
            "actions": {
                "submits": plan.submits,
                "removals": plan.removals,
                "releases": plan.releases,
            },
            "timing": {k: round(v, 6) for k, v in timing.items()},
        }
        import orjson

        sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return 0
    print_plan(plan, timing)
    return 0


def print_plan(plan: Plan, timing: dict[str, float]) -> None:
    """The decisions as a table on stdout, then the stage timings."""
    from aglidein.commands.plan_table import print_decisions

    title = f"plan at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(plan.now))} UTC"
    stages = "  ".join(f"{k[:-2]} {v:.3f}s" for k, v in timing.items())
    footer = f"timing: {stages}" + ("  (frozen: pool unreachable)" if plan.frozen else "")
    print_decisions([d.as_dict() for d in plan.decisions], title, footer)


def _plan_from_daemon(args: argparse.Namespace) -> int:
    """`plan --url`: the running daemon's last cycle (GET /api/v1/status), same table."""
    from aglidein.client import client_from_args
    from aglidein.commands.plan_table import decision_rows_of_status, print_decisions

    status = client_from_args(args).request("GET", "/api/v1/status")
    if not isinstance(status, dict):
        raise PlanError(f"{args.url}/api/v1/status: not a status document")
    rows = decision_rows_of_status(status)
    if args.json:
        import orjson

        sys.stdout.buffer.write(orjson.dumps({"decisions": rows}, option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
        sys.stdout.flush()
        return 0
    cycle = status.get("factory", {}).get("cycle", {})
    title = f"plan of cycle {cycle.get('number', '?')} at {cycle.get('started', '?')} (daemon)"
    print_decisions(rows, title, f"from {args.url}")
    return 0
