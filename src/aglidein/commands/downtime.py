"""`aglidein downtime add|list|end`: scheduled downtimes on a running daemon (issue 18).

The daemon reads the times (`now`, `+2h`, an ISO time) with its own clock and checks
the entry and group against its config; the CLI only carries them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aglidein.client import add_client_arguments, client_from_args

__all__ = ["register"]

_WHEN = "an ISO time (UTC unless it has an offset, e.g. 2026-12-07T06:00Z), now, or +2h"


def register(subparsers: Any) -> None:
    """Add `downtime add|list|end`."""
    downtime = subparsers.add_parser(
        "downtime", help="schedule, list and end entry downtimes (persisted)"
    )
    actions = downtime.add_subparsers(dest="downtime_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="no new glideins for an entry (or all) during a window; idle ones are removed",
    )
    add.add_argument("entry", metavar="ENTRY|all", help="the entry name, or all")
    add.add_argument("--start", default="now", help=f"{_WHEN}; default now")
    add.add_argument("--end", help=f"{_WHEN}; default: until `downtime end`")
    add.add_argument("--group", help="only this group's glideins (default: every group)")
    add.add_argument("--comment", required=True, help="why: shown in status and plan")
    add.add_argument("--json", action="store_true", help="print the downtime as JSON")
    add_client_arguments(add)
    add.set_defaults(func=add_downtime)

    listing = actions.add_parser("list", help="downtimes in force or to come")
    listing.add_argument("--all", action="store_true", help="include downtimes that are over")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_client_arguments(listing)
    listing.set_defaults(func=list_downtimes)

    end = actions.add_parser("end", help="end a downtime now (one not yet started is cancelled)")
    end.add_argument("id", type=int, help="the downtime id (see `downtime list`)")
    end.add_argument("--json", action="store_true", help="print the downtime as JSON")
    add_client_arguments(end)
    end.set_defaults(func=end_downtime)


def add_downtime(args: argparse.Namespace) -> int:
    """POST the downtime; print it with its id."""
    body = {
        "entry": args.entry,
        "group": args.group,
        "start": args.start,
        "end": args.end,
        "comment": args.comment,
    }
    result = client_from_args(args).request("POST", "/api/v1/downtimes", admin=True, json=body)
    _print([result], args.json, single=True)
    return 0


def list_downtimes(args: argparse.Namespace) -> int:
    """GET the downtimes; print a table (or JSON)."""
    path = "/api/v1/downtimes" + ("?all=1" if args.all else "")
    result = client_from_args(args).request("GET", path)
    downtimes = result.get("downtimes", []) if isinstance(result, dict) else []
    if args.json:
        json.dump({"downtimes": downtimes}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not downtimes:
        print("no downtimes" + ("" if args.all else " in force or to come"))
        return 0
    _print(downtimes, False, single=False)
    return 0


def end_downtime(args: argparse.Namespace) -> int:
    """DELETE the downtime; print it as ended."""
    result = client_from_args(args).request("DELETE", f"/api/v1/downtimes/{args.id}", admin=True)
    _print([result], args.json, single=True)
    return 0


def _print(downtimes: list[dict[str, Any]], as_json: bool, *, single: bool) -> None:
    if as_json:
        json.dump(downtimes[0] if single else downtimes, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("id", "entry", "group", "start", "end", "state", "comment"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for d in downtimes:
        table.add_row(
            str(d["id"]),
            d["entry"],
            d.get("group") or "all",
            d["start"],
            d.get("end") or "until ended",
            d.get("state", ""),
            d.get("comment") or "",
        )
    Console(file=sys.stdout, width=160).print(table)
