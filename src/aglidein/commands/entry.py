"""`aglidein entry enable|disable NAME` and `aglidein drain NAME [--hard]` (DESIGN §12)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aglidein.client import add_client_arguments, client_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add entry and drain."""
    entry = subparsers.add_parser("entry", help="enable or disable an entry (persisted)")
    actions = entry.add_subparsers(dest="entry_command", metavar="ACTION", required=True)
    for action, text in (
        ("enable", "serve the entry again (ends a backoff; config enabled: false still wins)"),
        ("disable", "send no more glideins to the entry; existing ones stay"),
    ):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("name", help="the entry name")
        add_client_arguments(parser)
        parser.set_defaults(func=entry_action, action=action, hard=False)

    drain = subparsers.add_parser(
        "drain", help="stop submitting to an entry and remove its idle glideins"
    )
    drain.add_argument("name", help="the entry name")
    drain.add_argument("--hard", action="store_true", help="remove running glideins too")
    add_client_arguments(drain)
    drain.set_defaults(func=entry_action, action="drain")


def entry_action(args: argparse.Namespace) -> int:
    """POST the action; print the entry's new state."""
    client = client_from_args(args)
    body = {"hard": bool(args.hard)} if args.action == "drain" else None
    result = client.request(
        "POST", f"/api/v1/entries/{args.name}/{args.action}", admin=True, json=body
    )
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
