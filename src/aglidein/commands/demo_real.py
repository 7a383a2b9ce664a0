"""`aglidein demo --real-pool`: the daemon on a VO pool and a site of real HTCondor
daemons started on 127.0.0.1 for the demo, with real user jobs on real glideins.

Owns the pools' lifetime: they start before the daemon and stop after it, on every way
out (the duration, Ctrl-C, SIGTERM, an error), leaving no condor process behind;
`--keep` keeps their directory (configs, daemon logs, the factory's state) to read.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
from rich.console import Console

from aglidein.condor.personal.topology import Topology, start_topology
from aglidein.demo.real_runner import RealOutcome, real_summary, run_real_demo
from aglidein.demo.realpool import NoCondor, RealDemoSetup, find_condor, prepare_real
from aglidein.demo.setup import check_port
from aglidein.errors import AglideinError, exception_leaves
from aglidein.logging_setup import LogLevel

__all__ = ["EXIT_NO_CONDOR", "run_real_demo_command"]

EXIT_NO_CONDOR = 2


def run_real_demo_command(args: argparse.Namespace) -> int:
    """Find HTCondor, start the pools, run, summarise, stop the pools; 0 only if every
    check held (2: no HTCondor)."""
    if args.config is not None or args.state_dir is not None:
        raise AglideinError(
            "--real-pool writes its own config and state dir: drop --config/--state-dir"
        )
    try:
        release, glidein_tarball = find_condor(args.condor_tarball)
    except NoCondor as exc:
        print(f"aglidein: {exc}", file=sys.stderr)
        return EXIT_NO_CONDOR
    check_port(args.port)
    console = Console(file=sys.stdout, highlight=False)
    live = not args.no_tty and console.is_terminal
    root = os.geteuid() == 0
    console.print(
        f"starting a VO pool and a site from HTCondor ({release.origin}) on 127.0.0.1 ...",
        highlight=False,
        markup=False,
    )
    with _sigterm_interrupts():  # the daemon handles SIGTERM itself while it runs
        topology = start_topology(release, keep=args.keep)
        try:
            setup = prepare_real(topology, glidein_tarball, args.port, root=root)
            with _condor_env(topology), _log_to(topology.base / "aglidein.log", args.log_level):
                outcome = _run(setup, args.duration, live, console)
        except BaseException:
            _stop(console, topology, args.keep)
            raise
    _stop(console, topology, args.keep, quiet=True)
    how = "interrupted" if outcome.interrupted else "duration reached"
    for line in real_summary(outcome, how=how):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    _say_where(console, topology, args.keep)
    if outcome.daemon_status != 0:
        print("aglidein: the daemon did not stop cleanly", file=sys.stderr)
        return 1
    return 0 if outcome.seen.ok else 1


def _run(setup: RealDemoSetup, duration: float | None, live: bool, console: Console) -> RealOutcome:
    try:
        return anyio.run(run_real_demo, setup, duration, live, console, backend="asyncio")
    except BaseExceptionGroup as group:  # task groups wrap the daemon's errors
        errors = exception_leaves(group)
        if len(errors) == 1 and isinstance(errors[0], AglideinError | KeyboardInterrupt):
            raise errors[0] from None
        raise


def _stop(console: Console, topology: Topology, keep: bool, *, quiet: bool = False) -> None:
    """Stop the pools (every daemon and glidein process), uninterruptibly."""
    with _signals_ignored():
        topology.stop(keep=keep)
    if not quiet:
        _say_where(console, topology, keep)


def _say_where(console: Console, topology: Topology, keep: bool) -> None:
    if keep:
        console.print(
            f"(kept {topology.base}: aglidein.log, vo/log, site/log; remove it when done)",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            f"(stopped the pools, removed {topology.base})", highlight=False, markup=False
        )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM as Ctrl-C: the pools are stopped on the way out (the daemon handles both
    signals itself while it runs)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Neither Ctrl-C nor SIGTERM cuts the pools' stop short (it leaves no process)."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _condor_env(topology: Topology) -> Iterator[None]:
    """CONDOR_CONFIG and PATH of the VO pool for this process and its children (the
    htcondor2 worker processes talk to the VO schedd and collector)."""
    saved = {name: os.environ.get(name) for name in ("CONDOR_CONFIG", "PATH")}
    env = topology.vo.env
    os.environ["CONDOR_CONFIG"] = env["CONDOR_CONFIG"]
    os.environ["PATH"] = env["PATH"]
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _log_to(path: Path, level: LogLevel | None) -> Iterator[None]:
    from aglidein.logging_setup import log_to

    with log_to(path, level or "info"):
        yield
