"""The `aglidein` command line (DESIGN §12).

Each command lives in `aglidein.commands.<name>` with `register(subparsers)`; the
handler it sets returns the exit status. Exit 0 ok, 1 user error (a message, no
traceback), 2 usage, 130 interrupted (Ctrl-C: one line, no traceback). Results go to
stdout; warnings, errors and logs to stderr.

Only the module of the command being run is imported (all of them for `--help` or a
mistyped command), so `aglidein --version` or `aglidein token log` does not pay for
numpy, the HTCondor bindings or the web server.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence

from aglidein import __version__

__all__ = ["COMMANDS", "COMMAND_MODULES", "main"]

# Command name -> the module that registers it (a module may register several).
COMMANDS: dict[str, str] = {
    "check-config": "aglidein.commands.config_cmds",
    "config": "aglidein.commands.config_cmds",
    "run": "aglidein.commands.daemon_cmds",
    "reload": "aglidein.commands.daemon_cmds",
    "status": "aglidein.commands.status",
    "glideins": "aglidein.commands.glideins",
    "token": "aglidein.commands.token",
    "credentials": "aglidein.commands.credentials",
    "plan": "aglidein.commands.plan",
    "import-gwms": "aglidein.commands.import_gwms",
    "entry": "aglidein.commands.entry",
    "drain": "aglidein.commands.entry",
    "downtime": "aglidein.commands.downtime",
    "logs": "aglidein.commands.logs",
    "demo": "aglidein.commands.demo",
}
# One module per command family, in the order `--help` lists them.
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))
_INTERRUPTED = 130


def _modules_for(argv: Sequence[str]) -> list[str]:
    """The command modules `argv` needs: its command's, or all when it names none."""
    skip_value = False
    for token in argv:
        if skip_value:
            skip_value = False
            continue
        if token in ("-h", "--help"):
            return COMMAND_MODULES
        if token == "--version":
            return []
        if token == "--log-level":
            skip_value = True
            continue
        if token.startswith("-"):
            continue
        module = COMMANDS.get(token)
        return [module] if module is not None else COMMAND_MODULES
    return COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `argv`, only the commands it needs are registered."""
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
    for name in COMMAND_MODULES if argv is None else _modules_for(argv):
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return _interrupted()


def _interrupted() -> int:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: the status says it
        print("aglidein: interrupted", file=sys.stderr)
    return _INTERRUPTED


def _main(argv: Sequence[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    import structlog

    from aglidein.errors import AglideinError, exception_leaves
    from aglidein.logging_setup import configure_logging

    configure_logging(args.log_level or "warning")
    try:
        status: int = args.func(args)
    except AglideinError as exc:
        print(f"aglidein: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    except BaseExceptionGroup as group:  # task groups wrap what a service raised
        leaves = exception_leaves(group)
        if any(isinstance(e, KeyboardInterrupt) for e in leaves):
            return _interrupted()
        if not all(isinstance(e, AglideinError) for e in leaves):
            raise
        for error in leaves:
            print(f"aglidein: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    finally:
        structlog.reset_defaults()
    return status
