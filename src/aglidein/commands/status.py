"""`aglidein status`: the status table from a running daemon's `/api/v1/status`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from aglidein.client import add_client_arguments, client_from_args
from aglidein.statusview import status_renderable

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add status."""
    status = subparsers.add_parser("status", help="show a running daemon's status")
    add_client_arguments(status)
    status.add_argument("--json", action="store_true", help="print the raw status document")
    status.set_defaults(func=show_status)


def show_status(args: argparse.Namespace) -> int:
    """Print the table (or the JSON document)."""
    document = client_from_args(args).request("GET", "/api/v1/status")
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    Console(file=sys.stdout, width=160).print(status_renderable(document))
    return 0
