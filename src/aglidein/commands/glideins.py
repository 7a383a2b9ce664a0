"""`aglidein glideins`: the glidein list from a running daemon, like `condor_q` for
glideins (`GET /api/v1/glideins`, every page)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from aglidein.client import add_client_arguments, client_from_args
from aglidein.services.roster import STATES

__all__ = ["register"]

PAGE = 1000
_COLUMNS = (
    "job id",
    "glidein",
    "entry",
    "group",
    "state",
    "worker",
    "started",
    "grid job id",
    "last record",
    "exit",
)


def register(subparsers: Any) -> None:
    """Add glideins."""
    parser = subparsers.add_parser(
        "glideins",
        help="list glideins: on the queue, recently ended, or that posted logs",
        description="Every glidein on the factory schedd's queue or ended in the last "
        "24 h, then those known only from their logs.",
    )
    add_client_arguments(parser)
    parser.add_argument("--entry", help="only glideins of this entry")
    parser.add_argument("--group", help="only glideins of this group")
    parser.add_argument(
        "--state",
        choices=STATES,
        metavar="STATE",
        help=f"only glideins in this queue or log state: {', '.join(STATES)}",
    )
    parser.add_argument("--json", action="store_true", help="print the glideins as JSON")
    parser.set_defaults(func=list_glideins)


def fetch_glideins(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every glidein the daemon lists for these filters (all pages)."""
    client = client_from_args(args)
    params: dict[str, Any] = {"limit": PAGE}
    for name in ("entry", "group", "state"):
        if getattr(args, name, None):
            params[name] = getattr(args, name)
    out: list[dict[str, Any]] = []
    while True:
        page = client.request("GET", "/api/v1/glideins", params=params)
        out.extend(page["glideins"])
        if not page.get("next_cursor"):
            return out
        params["cursor"] = page["next_cursor"]


def list_glideins(args: argparse.Namespace) -> int:
    """Print the list (a table, or JSON)."""
    glideins = fetch_glideins(args)
    if args.json:
        json.dump(glideins, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = Table(title=f"{len(glideins)} glideins", header_style="bold")
    for column in _COLUMNS:
        table.add_column(column, overflow="fold")
    several = len({g.get("schedd") for g in glideins if g.get("schedd")}) > 1
    for g in glideins:
        table.add_row(*glidein_cells(g, with_schedd=several))
    Console(file=sys.stdout, width=200).print(table)
    return 0


def glidein_cells(g: dict[str, Any], *, with_schedd: bool = False) -> list[str]:
    """One table row: queue state first, the log state for glideins known from logs. With
    several factory schedds the job id is `C.P@schedd` (job ids repeat across them)."""
    last = g.get("last_record") or {}
    record = " ".join(str(last.get(k)) for k in ("event", "msg") if last.get(k))
    exit_text = g.get("exit_reason") or ""
    if g.get("exit_code") is not None:
        exit_text += f" ({g['exit_code']})"
    state = g.get("job_state") or f"{g['state']} (logs)"
    if g.get("hold_reason") and g.get("job_state") == "held":
        state += f": {g['hold_reason']}"
    job = g.get("job_id") or ""
    if with_schedd and job and g.get("schedd"):
        job += f"@{g['schedd']}"
    return [
        job,
        g["glidein"],
        g["entry"],
        g.get("group") or "",
        state,
        g.get("worker") or "",
        (g.get("started") or "")[:19].replace("T", " "),
        g.get("grid_job_id") or "",
        record[:60],
        exit_text,
    ]
