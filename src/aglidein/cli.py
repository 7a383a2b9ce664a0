"""The `aglidein` command line (DESIGN §12).

Each command lives in `aglidein.commands.<name>` with `register(subparsers)`; the
handler it sets returns the exit status. Exit 0 ok, 1 user error (a message, no
traceback), 2 usage. Results go to stdout; warnings, errors and logs to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import structlog

from aglidein import __version__
from aglidein.errors import AglideinError, exception_leaves
from aglidein.logs import configure_logging

__all__ = ["COMMAND_MODULES", "main"]

# One module per command family; each registers its subcommands.
COMMAND_MODULES = [
    "aglidein.commands.config_cmds",
    "aglidein.commands.daemon_cmds",
    "aglidein.commands.status",
    "aglidein.commands.token",
    "aglidein.commands.credentials",
    "aglidein.commands.plan",
    "aglidein.commands.import_gwms",
    "aglidein.commands.entry",
    "aglidein.commands.logs",
    "aglidein.commands.demo",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="aglidein", description="A glidein factory for HTCondor pools."
    )
    parser.add_argument("--version", action="version", version=f"aglidein {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        default=None,
        help="log level (default: factory.log_level from the config, else info)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level or "warning")
    try:
        status: int = args.func(args)
    except AglideinError as exc:
        print(f"aglidein: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BaseExceptionGroup as group:  # task groups wrap what a service raised
        leaves = exception_leaves(group)
        if not all(isinstance(e, AglideinError | KeyboardInterrupt) for e in leaves):
            raise
        for error in leaves:
            if isinstance(error, AglideinError):
                print(f"aglidein: {error}", file=sys.stderr)
        return 1 if any(isinstance(e, AglideinError) for e in leaves) else 130
    except BrokenPipeError:
        return 0
    finally:
        structlog.reset_defaults()
    return status
