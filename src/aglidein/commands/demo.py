"""`aglidein demo [--duration D] [--no-tty] [--port P]`: the daemon on the simulated pool.

Runs `conf/demo.yaml` on its scenario with a clock faster than the wall clock, shows a
live status table (or progress lines), and at the end prints a summary; exit 0 only if
the demo's own checks held (DESIGN §12). `--real-pool` runs it on real HTCondor daemons
instead (`aglidein.commands.demo_real`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from aglidein.demo.runner import DemoOptions, DemoOutcome, run_demo
from aglidein.demo.setup import (
    DemoSetup,
    check_port,
    default_demo_config,
    pilot_environment,
    prepare,
)
from aglidein.demo.view import summary
from aglidein.errors import AglideinError, exception_leaves
from aglidein.logging_setup import log_to
from aglidein.state import StateDirLock
from aglidein.units import parse_duration

__all__ = ["register"]

DEFAULT_SPEED = 30.0


def register(subparsers: Any) -> None:
    """Add demo."""
    demo = subparsers.add_parser(
        "demo",
        help="run the factory on a simulated pool, with real local pilots "
        "(--real-pool: on real HTCondor daemons)",
        description=(
            "Run the daemon with conf/demo.yaml on its simulated pool (8 entries, 3 demand "
            "groups), the clock sped up; show a live status table; at the end print a "
            "summary and exit 0 only if the demo's checks held. With --real-pool: a VO "
            "pool and a site of real HTCondor daemons on 127.0.0.1 instead, with user jobs "
            "running on real glideins."
        ),
    )
    demo.add_argument(
        "--duration",
        type=_duration,
        default=None,
        help="run this long (60s, 5m); default: until Ctrl-C",
    )
    demo.add_argument(
        "--no-tty", action="store_true", help="progress lines instead of the live table"
    )
    demo.add_argument("--port", type=int, default=8080, help="HTTP port on 127.0.0.1 (8080)")
    demo.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keep the demo's state here (default: a temporary dir, removed at the end)",
    )
    demo.add_argument(
        "--config", type=Path, default=None, help="the demo config (default: conf/demo.yaml)"
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"simulated seconds per wall-clock second ({DEFAULT_SPEED:g})",
    )
    real = demo.add_argument_group("real HTCondor (--real-pool)")
    real.add_argument(
        "--real-pool",
        action="store_true",
        help="start a VO pool and a site of real HTCondor daemons on 127.0.0.1 and run the "
        "factory on them, with user jobs on real glideins (needs HTCondor)",
    )
    real.add_argument(
        "--condor-tarball",
        type=Path,
        default=None,
        help="an HTCondor release tarball: the daemons run from it unless condor_master is "
        "on PATH, and the glideins unpack it at the site (default: $AGLIDEIN_CONDOR_TARBALL)",
    )
    real.add_argument(
        "--keep",
        action="store_true",
        help="keep the pools' directory (configs, daemon logs, aglidein.log) after the demo",
    )
    demo.set_defaults(func=run_demo_command)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return seconds


def run_demo_command(args: argparse.Namespace) -> int:
    """Prepare, run, summarise; 0 only if every check held."""
    if args.real_pool:
        from aglidein.commands.demo_real import run_real_demo_command

        return run_real_demo_command(args)
    if args.condor_tarball is not None or args.keep:
        raise AglideinError("--condor-tarball and --keep go with --real-pool")
    if args.speed <= 0:
        raise AglideinError("--speed must be > 0")
    check_port(args.port)
    config = args.config or default_demo_config()
    with _state_dir(args.state_dir) as state_dir, StateDirLock.acquire(state_dir) as lock:
        setup = prepare(config, state_dir, args.port)
        console = Console(file=sys.stdout, highlight=False)
        live = not args.no_tty and console.is_terminal
        options = DemoOptions(duration=args.duration, live=live, speed=args.speed)
        os.environ.update(pilot_environment(setup.state_dir))  # local pilots inherit it
        with log_to(setup.state_dir / "aglidein.log", args.log_level or "info"):
            outcome = _run(setup, options, console, lock)
        for line in summary(
            outcome.checks,
            elapsed=outcome.elapsed,
            simulated=outcome.simulated,
            cycles=outcome.cycles,
            how=outcome.how,
        ):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        if args.state_dir is None:
            console.print(
                f"(removing the temporary state dir {state_dir})", highlight=False, markup=False
            )
    if outcome.daemon_status != 0:
        print("aglidein: the daemon did not stop cleanly", file=sys.stderr)
        return 1
    return 0 if outcome.checks.ok else 1


def _run(
    setup: DemoSetup, options: DemoOptions, console: Console, lock: StateDirLock
) -> DemoOutcome:
    try:
        return anyio.run(run_demo, setup, options, console, lock, backend="asyncio")
    except BaseExceptionGroup as group:  # task groups wrap the daemon's errors
        errors = exception_leaves(group)
        if len(errors) == 1 and isinstance(errors[0], AglideinError | KeyboardInterrupt):
            raise errors[0] from None
        raise


@contextmanager
def _state_dir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        yield chosen
        return
    temp = Path(tempfile.mkdtemp(prefix="aglidein-demo-"))
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)
