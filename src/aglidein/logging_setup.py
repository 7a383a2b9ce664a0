"""structlog setup: JSON lines to stderr under systemd, a console renderer on a TTY."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TextIO

import structlog

__all__ = ["LogLevel", "configure_logging", "log_to"]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def configure_logging(level: LogLevel = "info", *, json: bool | None = None) -> None:
    """Route structlog to stderr; JSON unless stderr is a terminal (or `json` says)."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


@contextmanager
def log_to(path: Path, level: LogLevel) -> Iterator[None]:
    """JSON log lines go to a file while inside (the demos: the terminal belongs to the
    view); structlog's defaults come back after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        configure_logging(level, json=True)
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=handle))
        yield
    finally:
        structlog.reset_defaults()
        handle.close()
