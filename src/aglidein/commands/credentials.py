"""`aglidein credentials`: every credential with its type, path, life left, last renewal
and error — from the running daemon's `/api/v1/status` when it answers, else read from
the files directly."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any

from aglidein.client import add_client_arguments, client_from_args
from aglidein.config import Config, expand_path, load_config
from aglidein.credentials import read_credential
from aglidein.errors import AglideinError, CredentialError

__all__ = ["credential_rows", "format_left", "register"]

_COLUMNS = ("name", "type", "path", "left", "last_renewal", "error")


def register(subparsers: Any) -> None:
    """Add `credentials`."""
    parser = subparsers.add_parser(
        "credentials", help="list credentials: type, path, lifetime left, last renewal, error"
    )
    add_client_arguments(parser)
    parser.add_argument(
        "--offline", action="store_true", help="read the files only; do not ask the daemon"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a credential is missing, invalid, expired or failing to renew",
    )
    parser.set_defaults(func=list_credentials)


def format_left(seconds: float | None) -> str:
    """`3d4h`, `45m`, `expired 2h ago`, or `-` when it does not expire."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return f"expired {_span(-seconds)} ago"
    return _span(seconds)


def _span(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _from_iso(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def credential_rows(
    config: Config | None, status: dict[str, Any] | None, now: float
) -> list[dict[str, Any]]:
    """One row per credential: the daemon's view when `status` is given, else the files'."""
    paths = {c.name: str(expand_path(c.path)) for c in (config.credentials if config else [])}
    rows: list[dict[str, Any]] = []
    if status is not None:
        for item in status.get("credentials", []):
            expires = _from_iso(item.get("expires"))
            rows.append(
                {
                    "name": item.get("name"),
                    "type": item.get("type"),
                    "path": paths.get(str(item.get("name"))),
                    "expires": _iso(expires),
                    "left_s": None if expires is None else round(expires - now),
                    "last_renewal": item.get("last_renewal"),
                    "error": item.get("last_error"),
                    "source": "daemon",
                }
            )
        return rows
    assert config is not None
    for credential in config.credentials:
        until: float | None = None
        error: str | None = None
        try:
            until = read_credential(credential).expires
        except CredentialError as exc:
            error = str(exc)
        rows.append(
            {
                "name": credential.name,
                "type": credential.type,
                "path": paths[credential.name],
                "expires": _iso(until),
                "left_s": None if until is None else round(until - now),
                "last_renewal": None,
                "error": error,
                "source": "files",
            }
        )
    return rows


def _daemon_status(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.offline:
        return None
    try:
        client = client_from_args(args)
        body = client.request("GET", "/api/v1/status")
    except AglideinError as exc:
        if not args.config:
            raise
        print(f"aglidein: daemon not reachable, reading files ({exc})", file=sys.stderr)
        return None
    return body if isinstance(body, dict) else None


def list_credentials(args: argparse.Namespace) -> int:
    """Print the table (or JSON); with --check, exit 1 when any credential has a problem."""
    config = load_config(args.config).config if args.config else None
    if config is None and args.offline:
        raise AglideinError("--offline needs --config")
    status = _daemon_status(args)
    rows = credential_rows(config, status, time.time())
    if args.json:
        json.dump({"credentials": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        table = [_COLUMNS] + [
            (
                str(row["name"]),
                str(row["type"]),
                row["path"] or "-",
                format_left(row["left_s"])
                if row["expires"]
                else ("-" if not row["error"] else "?"),
                row["last_renewal"] or "-",
                row["error"] or "",
            )
            for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS) - 1)]
        for line in table:
            cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
            sys.stdout.write("  ".join([*cells, line[-1]]).rstrip() + "\n")
    bad = any(row["error"] or (row["left_s"] is not None and row["left_s"] <= 0) for row in rows)
    return 1 if args.check and bad else 0
