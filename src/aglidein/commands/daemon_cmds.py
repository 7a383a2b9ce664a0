"""`aglidein run --config F` and `aglidein reload`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from aglidein.client import add_client_arguments, client_from_args
from aglidein.config import load_config
from aglidein.daemon import Daemon
from aglidein.logs import configure_logging

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add run and reload."""
    run = subparsers.add_parser("run", help="run the factory daemon in the foreground")
    run.add_argument("--config", "-c", required=True, help="the YAML config file")
    run.set_defaults(func=run_daemon)

    reload = subparsers.add_parser("reload", help="ask a running daemon to reload its config")
    add_client_arguments(reload)
    reload.set_defaults(func=reload_daemon)


def run_daemon(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; 0 after a graceful stop."""
    loaded = load_config(args.config)
    configure_logging(args.log_level or loaded.config.factory.log_level)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    daemon = Daemon(loaded)
    status: int = anyio.run(daemon.run, backend="asyncio", backend_options=_loop_options())
    return status


def _loop_options() -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return {}
    return {"loop_factory": uvloop.new_event_loop}


def reload_daemon(args: argparse.Namespace) -> int:
    """POST /api/v1/reload; print the result; exit 1 when the new config was refused."""
    client = client_from_args(args)
    result = client.request("POST", "/api/v1/reload", admin=True)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if result.get("ok") else 1
