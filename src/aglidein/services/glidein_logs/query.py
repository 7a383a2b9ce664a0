"""Query parameters of the log read API and their OpenAPI descriptions (DESIGN §8)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import QueryParams

from aglidein.core.records import LEVELS, parse_ts
from aglidein.store.api import Cursor, GlideinSummary, LogQuery
from aglidein.store.userjobs import parse_job_ref
from aglidein.units import parse_duration

__all__ = [
    "GLIDEINS_PARAMETERS",
    "LOG_PARAMETERS",
    "STREAM_PARAMETERS",
    "BadQuery",
    "format_ts",
    "glidein_json",
    "int_param",
    "parse_log_query",
    "parse_time",
]

MAX_LIMIT = 10_000
MAX_GLIDEIN_LIMIT = 100_000
_NUMBER = re.compile(r"\d+(\.\d+)?\Z")


class BadQuery(ValueError):
    """A query parameter that cannot be used (answered with 400)."""


def format_ts(ts: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str, now: float) -> float:
    """RFC 3339 UTC, seconds since the epoch, or a duration meaning that long ago."""
    text = text.strip()
    if _NUMBER.match(text):
        return float(text)
    try:
        return parse_ts(text)
    except ValueError:
        pass
    try:
        return now - parse_duration(text)
    except (ValueError, TypeError):
        raise BadQuery(
            f"{text!r} is not a time: use RFC 3339 UTC, epoch seconds or a duration like 15m"
        ) from None


def int_param(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within `low..high`; BadQuery otherwise."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be in {low}..{high}")
    return value


def _text(params: QueryParams, name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > 1000 or "\x00" in value:
        raise BadQuery(f"{name} is too long or holds NUL")
    return value


def parse_log_query(params: QueryParams, now: float, *, stream: bool = False) -> LogQuery:
    """The LogQuery of `GET /api/v1/logs` (or its stream); BadQuery on bad input."""
    levels: set[str] = set()
    for raw in params.getlist("level"):
        for name in raw.split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name not in LEVELS:
                raise BadQuery(f"level {name!r}: use one of {', '.join(LEVELS)}")
            levels.add(name)
    since = _text(params, "since")
    until = _text(params, "until")
    cursor_text = _text(params, "cursor")
    cursor = None
    if cursor_text is not None:
        try:
            cursor = Cursor.decode(cursor_text)
        except ValueError as exc:
            raise BadQuery(str(exc)) from None
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    job_text = _text(params, "job")
    job = None
    if job_text is not None:
        if stream:
            raise BadQuery("job is not a live-tail filter: follow the glidein it names")
        try:
            job = parse_job_ref(job_text)
        except ValueError as exc:
            raise BadQuery(str(exc)) from None
    query = LogQuery(
        glidein=_text(params, "glidein"),
        job=job,
        entry=_text(params, "entry"),
        levels=frozenset(levels),
        event=_text(params, "event"),
        q=_text(params, "q"),
        since=parse_time(since, now) if since else None,
        until=parse_time(until, now) if until else None,
        limit=int_param(params, "limit", 100, 1, MAX_LIMIT),
        cursor=cursor,
        descending=order == "desc" and not stream,
    )
    if stream:
        query = replace(query, limit=500)
    return query


def glidein_json(summary: GlideinSummary) -> dict[str, Any]:
    """One glidein of `GET /api/v1/glideins`."""
    return {
        "glidein": summary.glidein,
        "entry": summary.entry,
        "state": summary.state,
        "first_ts": format_ts(summary.first_ts),
        "last_ts": format_ts(summary.last_ts),
        "record_count": summary.record_count,
        "last_error": summary.last_error,
    }


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_TIME = {"type": "string", "maxLength": 100}
_FILTERS = [
    _param("glidein", "only this glidein", {"type": "string", "maxLength": 1000}),
    _param("entry", "only glideins of this entry", {"type": "string", "maxLength": 1000}),
    _param(
        "level",
        "only these levels (comma-separated)",
        {
            "type": "string",
            "pattern": r"^(debug|info|warning|error|critical)"
            r"(,(debug|info|warning|error|critical))*$",
        },
    ),
    _param("event", "only this event name", {"type": "string", "maxLength": 128}),
    _param(
        "q",
        "full-text terms in msg (all must appear; term* = prefix)",
        {"type": "string", "maxLength": 1000},
    ),
    _param("since", "RFC 3339 UTC, epoch seconds, or a duration ago (15m)", _TIME),
    _param("until", "RFC 3339 UTC, epoch seconds, or a duration ago", _TIME),
]
_CURSOR = _param(
    "cursor",
    "continue after this position (from next_cursor)",
    {"type": "string", "pattern": r"^\d+\.\d+$"},
)
LOG_PARAMETERS = [
    *_FILTERS,
    _param(
        "job",
        "the records of the glideins that ran this user job: Cluster.Proc@schedd, "
        "Cluster.Proc (any schedd) or Cluster",
        {"type": "string", "maxLength": 300},
    ),
    _param("limit", "records per page", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    _CURSOR,
    _param(
        "order", "asc (oldest first, default) or desc", {"type": "string", "enum": ["asc", "desc"]}
    ),
]
STREAM_PARAMETERS = [*_FILTERS, _CURSOR]
GLIDEINS_PARAMETERS = [
    _param("entry", "only glideins of this entry", {"type": "string", "maxLength": 1000}),
    _param(
        "limit",
        "glideins per page",
        {"type": "integer", "minimum": 1, "maximum": MAX_GLIDEIN_LIMIT},
    ),
    _param(
        "cursor",
        "from next_cursor",
        {"type": "string", "pattern": r"^(\d{1,19}|r:\d{1,18}\.\d{1,9})$"},
    ),
    _param(
        "state",
        "only glideins in this queue state (job_state) or log state (state)",
        {
            "type": "string",
            "enum": [
                "idle",
                "running",
                "removed",
                "completed",
                "held",
                "transferring",
                "suspended",
                "ended",
                "active",
                "silent",
            ],
        },
    ),
    _param("group", "only glideins of this group", {"type": "string", "maxLength": 1000}),
]
