"""`aglidein run --config F` and `aglidein reload`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from aglidein.client import DaemonClient, add_client_arguments, client_from_args
from aglidein.config import expand_path, load_config, load_http_section
from aglidein.daemon import Daemon
from aglidein.errors import ConfigError
from aglidein.logging_setup import configure_logging

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
    daemon = Daemon(loaded, gc_tuned=True)
    status: int = anyio.run(daemon.run, backend="asyncio", backend_options=_loop_options())
    return status


def _loop_options() -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return {}
    return {"loop_factory": uvloop.new_event_loop}


def reload_daemon(args: argparse.Namespace) -> int:
    """POST /api/v1/reload; print the result; exit 1 when the new config was refused.

    A config file with errors is still sent to the daemon (found from its `http`
    section), so the daemon logs and counts the refusal and `status` shows it."""
    try:
        client = client_from_args(args)
    except ConfigError as exc:
        if getattr(args, "url", None) or not getattr(args, "config", None):
            raise
        client = _client_from_http_section(args.config, exc)
    result = client.request("POST", "/api/v1/reload", admin=True)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if not result.get("ok"):
        for error in result.get("errors", []):
            print(f"error: {error}", file=sys.stderr)
        if result.get("restart_keys"):
            keys = ", ".join(result["restart_keys"])
            print(f"error: restart the daemon to change {keys}", file=sys.stderr)
    return 0 if result.get("ok") else 1


def _client_from_http_section(path: str, error: ConfigError) -> DaemonClient:
    """The daemon's address and admin token from a config that fails validation."""
    try:
        http = load_http_section(path)
    except ConfigError:
        raise error from None
    token: str | None = None
    if http.admin_token_file is not None:
        try:
            token = expand_path(http.admin_token_file).read_text().strip() or None
        except OSError:
            token = None
    return DaemonClient(base_url=http.base_url(), admin_token=token)
