"""`aglidein import-gwms FACTORY.xml... [--frontend frontend.xml] [-o aglidein.yaml]`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from aglidein.gwms.importer import import_gwms
from aglidein.gwms.xmlread import GwmsError

__all__ = ["register"]

_MAX_CONFIG_WARNINGS = 20


def register(subparsers: Any) -> None:
    """Add import-gwms."""
    parser = subparsers.add_parser(
        "import-gwms",
        help="convert GlideinWMS factory/frontend XML into an aglidein config",
        description=(
            "Convert GlideinWMS factory XML files (later files override entries of the same "
            "name) and optionally the frontend XML into one aglidein YAML config. The YAML "
            "goes to stdout (or -o FILE); the report of what could not be converted exactly "
            "and a summary go to stderr."
        ),
    )
    parser.add_argument("factory", nargs="+", metavar="FACTORY.xml", help="factory XML files")
    parser.add_argument("--frontend", metavar="FRONTEND.xml", help="the frontend XML file")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the YAML here, not stdout")
    parser.set_defaults(func=run_import)


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise GwmsError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise GwmsError(f"{path}: cannot write: {exc.strerror or exc}") from None


def run_import(args: argparse.Namespace) -> int:
    """Exit 0 with the config written; 1 (a message) when an input cannot be used."""
    output_name = args.output or "<stdout>"
    result = import_gwms(args.factory, args.frontend, output_name=output_name)
    if args.output:
        _write_atomically(Path(args.output), result.text)
    else:
        sys.stdout.write(result.text)
        sys.stdout.flush()
    for line in result.report.lines():
        print(line, file=sys.stderr)
    shown = result.config_warnings[:_MAX_CONFIG_WARNINGS]
    for warning in shown:
        print(f"check-config: warning: {warning}", file=sys.stderr)
    if len(result.config_warnings) > len(shown):
        hidden = len(result.config_warnings) - len(shown)
        print(
            f"check-config: ... and {hidden} more warnings (aglidein check-config {output_name})"
            if args.output
            else f"check-config: ... and {hidden} more warnings",
            file=sys.stderr,
        )
    print(result.summary.format(), file=sys.stderr)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
