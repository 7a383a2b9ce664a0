"""structlog setup: JSON lines to stderr under systemd, a console renderer on a TTY."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

__all__ = ["LogLevel", "configure_logging"]

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
