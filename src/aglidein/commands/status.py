"""`aglidein status`: the status table from a running daemon's `/api/v1/status`;
`--check` answers as a Nagios plugin (exit 0/1/2/3 and one line)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console

from aglidein.client import DaemonError, add_client_arguments, client_from_args
from aglidein.errors import AglideinError
from aglidein.statuscheck import CheckResult, CheckState, check_status
from aglidein.statusview import status_renderable

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add status."""
    status = subparsers.add_parser("status", help="show a running daemon's status")
    add_client_arguments(status)
    status.add_argument("--json", action="store_true", help="print the raw status document")
    status.add_argument(
        "--check",
        action="store_true",
        help="answer as a Nagios plugin: one line, exit 0 ok, 1 warning, 2 critical, 3 unknown",
    )
    status.set_defaults(func=show_status)


def show_status(args: argparse.Namespace) -> int:
    """Print the table (or the JSON document, or the Nagios line)."""
    if args.check:
        result = run_check(args)
        print(result.line)
        return int(result.state)
    document = client_from_args(args).request("GET", "/api/v1/status")
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    Console(file=sys.stdout, width=160).print(status_renderable(document))
    return 0


def run_check(args: argparse.Namespace) -> CheckResult:
    """Ask the daemon and judge its answer; an unreachable daemon is critical."""
    try:
        document = client_from_args(args).request("GET", "/api/v1/status")
    except DaemonError as exc:
        unreachable = exc.status is None or exc.status >= 500
        state = CheckState.CRITICAL if unreachable else CheckState.UNKNOWN
        return CheckResult(state, summary=f"daemon: {exc}")
    except (AglideinError, OSError) as exc:  # a bad --config or token file: cannot run
        return CheckResult(CheckState.UNKNOWN, summary=str(exc) or type(exc).__name__)
    return check_status(document, time.time())
