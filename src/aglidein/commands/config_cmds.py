"""`aglidein check-config FILE` and `aglidein config schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aglidein.config import config_schema, load_config, missing_files
from aglidein.configref import reference_markdown
from aglidein.errors import ConfigError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add check-config and config."""
    check = subparsers.add_parser("check-config", help="validate a config file")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("file", nargs="?", help="the YAML config file")
    where.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        help="the same, as the other commands take it",
    )
    check.set_defaults(func=check_config)

    config = subparsers.add_parser("config", help="config tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = config_sub.add_parser("schema", help="print the JSON Schema of the config")
    schema.set_defaults(func=print_schema)
    reference = config_sub.add_parser(
        "reference", help="print the config reference (Markdown) from the schema and the example"
    )
    reference.add_argument(
        "--example",
        default=None,
        help="the commented example config (default: conf/aglidein.example.yaml of this checkout)",
    )
    reference.set_defaults(func=print_reference)


def check_config(args: argparse.Namespace) -> int:
    """Exit 0 when valid (warnings on stderr), 1 with every error listed."""
    file = args.file if args.file is not None else args.config_file
    try:
        loaded = load_config(file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    cfg = loaded.config
    # Files are not required to exist here (the config may be checked on another host),
    # but `run` needs them: say which are missing, as warnings counted with the others.
    missing = [f"{file}: {m}" for m in missing_files(cfg)]
    warnings = [*loaded.warnings, *missing]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{file}: ok ({len(cfg.groups)} groups, {len(cfg.entries)} entries, "
        f"{len(cfg.credentials)} credentials, {len(warnings)} warnings"
        + (f", {len(missing)} of them files missing" if missing else "")
        + ")"
    )
    return 0


def print_reference(args: argparse.Namespace) -> int:
    """The Markdown table on stdout."""
    example = Path(args.example) if args.example else default_example()
    if not example.exists():
        raise ConfigError(f"{example}: no such example config (give --example FILE)")
    sys.stdout.write(reference_markdown(example))
    return 0


def default_example() -> Path:
    """conf/aglidein.example.yaml next to the package (a source checkout)."""
    return Path(__file__).resolve().parents[3] / "conf" / "aglidein.example.yaml"


def print_schema(args: argparse.Namespace) -> int:
    """The JSON Schema on stdout."""
    json.dump(config_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0
