"""Scheduled downtimes over HTTP (issue 18): add, list, end; persisted in the state DB.

`POST /api/v1/downtimes` (admin) takes `{"entry": NAME|"all", "group": NAME|null,
"start": T, "end": T|null, "comment": TEXT}`, T an ISO time, `now` or `+2h` read with the
daemon's clock; `GET /api/v1/downtimes` (read) lists those not over (`?all=1`: every
one); `DELETE /api/v1/downtimes/{id}` (admin) ends one now. The cycle reads the state
DB each cycle, so a change takes effect at the next cycle; the status board is
refreshed at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response

from aglidein.config import ALL_ENTRIES, Config
from aglidein.core.downtime import DowntimeError, check_window, parse_when
from aglidein.core.model import Downtime
from aglidein.services.auth import Access
from aglidein.services.http import ApiRoute, json_response, small_body
from aglidein.services.runtime import Runtime

__all__ = ["ALL_ENTRIES", "downtime_json", "downtime_routes", "refresh_board"]

log = structlog.get_logger()
_BODY_MAX = 8192
_COMMENT_MAX = 1000
_FIELDS = {"entry", "group", "start", "end", "comment"}


def downtime_json(downtime: Downtime, now: float) -> dict[str, Any]:
    """A downtime as the API, the status document and the CLI show it."""
    return {
        "id": downtime.id,
        "entry": downtime.entry or ALL_ENTRIES,
        "group": downtime.group,
        "start": _iso(downtime.start),
        "end": _iso(downtime.end),
        "comment": downtime.comment,
        "created": _iso(downtime.created),
        "active": downtime.active(now),
        "state": _state(downtime, now),
    }


def _state(downtime: Downtime, now: float) -> str:
    if downtime.active(now):
        return "in force"
    return "scheduled" if downtime.start > now else "over"


async def refresh_board(runtime: Runtime, now: float) -> list[Downtime]:
    """Downtimes not over at `now`, also put on the status board; the cycle's input."""
    downtimes = await runtime.state.load_downtimes(ended_after=now)
    runtime.status.downtimes = [downtime_json(d, now) for d in downtimes]
    return downtimes


def downtime_routes(runtime: Runtime) -> list[ApiRoute]:
    """GET and POST /api/v1/downtimes, DELETE /api/v1/downtimes/{id}."""
    return [
        ApiRoute(
            "/api/v1/downtimes",
            _lister(runtime),
            summary="Scheduled downtimes not over yet (?all=1: every one)",
            openapi=_LIST_OPENAPI,
        ),
        ApiRoute(
            "/api/v1/downtimes",
            _adder(runtime),
            methods=("POST",),
            access=Access.ADMIN,
            summary="Schedule a downtime (persisted; the next cycle acts on it)",
            openapi=_ADD_OPENAPI,
        ),
        ApiRoute(
            "/api/v1/downtimes/{id}",
            _ender(runtime),
            methods=("DELETE",),
            access=Access.ADMIN,
            summary="End a downtime now (one not yet started is cancelled)",
            openapi=_END_OPENAPI,
        ),
    ]


def _lister(runtime: Runtime) -> Any:
    async def handle(request: Request) -> Response:
        now = runtime.clock.now()
        every = request.query_params.get("all", "") in ("1", "true", "yes")
        downtimes = await runtime.state.load_downtimes(ended_after=None if every else now)
        return json_response({"downtimes": [downtime_json(d, now) for d in downtimes]})

    return handle


def _adder(runtime: Runtime) -> Any:
    async def handle(request: Request) -> Response:
        raw = await small_body(request, _BODY_MAX)
        if raw is None:
            return json_response({"error": f"body over {_BODY_MAX} bytes"}, 413)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return json_response({"error": "body must be a JSON object"}, 400)
        now = runtime.clock.now()
        try:
            entry, group, start, end, comment = _validated(body, runtime.config(), now)
        except DowntimeError as exc:
            return json_response({"error": str(exc)}, 400)
        downtime = await runtime.state.add_downtime(entry, group, start, end, comment, now)
        await refresh_board(runtime, now)
        log.info(
            "downtime.added",
            id=downtime.id,
            entry=downtime.entry or ALL_ENTRIES,
            group=group,
            start=start,
            end=end,
        )
        return json_response(downtime_json(downtime, now), 201)

    return handle


def _ender(runtime: Runtime) -> Any:
    async def handle(request: Request) -> Response:
        text = request.path_params["id"]
        if not str(text).isdigit():
            return json_response({"error": f"downtime id {text!r} is not a number"}, 400)
        now = runtime.clock.now()
        number = int(text)
        downtime = await runtime.state.end_downtime(number, now) if number < 2**63 else None
        if downtime is None:
            return json_response({"error": f"no downtime with id {text}"}, 404)
        await refresh_board(runtime, now)
        log.info("downtime.ended", id=downtime.id, end=downtime.end)
        return json_response(downtime_json(downtime, now))

    return handle


def _validated(
    body: Any, config: Config, now: float
) -> tuple[str | None, str | None, float, float | None, str]:
    """(entry or None for all, group or None, start, end or None, comment) from a body."""
    if not isinstance(body, dict):
        raise DowntimeError("body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise DowntimeError(f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_FIELDS))})")
    entry = _text(body, "entry", required=True)
    entries = [e.name for e in config.entries]
    if entry != ALL_ENTRIES and entry not in entries:
        raise DowntimeError(
            f"no entry named {entry!r} (entries: {_names(entries)}; or {ALL_ENTRIES!r})"
        )
    group = _text(body, "group")
    groups = [g.name for g in config.groups]
    if group is not None and group not in groups:
        raise DowntimeError(f"no group named {group!r} (groups: {_names(groups)})")
    comment = _text(body, "comment", required=True)
    if len(comment) > _COMMENT_MAX or "\n" in comment:
        raise DowntimeError(f"comment: one line of at most {_COMMENT_MAX} characters")
    start = parse_when(_text(body, "start") or "now", now, what="start")
    end_text = _text(body, "end")
    end = None if end_text is None else parse_when(end_text, now, what="end")
    check_window(start, end, now)
    return (None if entry == ALL_ENTRIES else entry), group, start, end, comment


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DowntimeError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise DowntimeError(f"{key} must be a string")
    return value.strip()


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none configured"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_DOWNTIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "entry": {"type": "string", "description": 'an entry name, or "all"'},
        "group": {"type": "string", "nullable": True, "description": "null: every group"},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time", "nullable": True},
        "comment": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "active": {"type": "boolean", "description": "in force now"},
        "state": {"type": "string", "enum": ["in force", "scheduled", "over"]},
    },
}
_LIST_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "all",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["1", "true", "yes"]},
            "description": "include downtimes that are over",
        }
    ],
    "responses": {
        "200": {
            "description": "downtimes by start time",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"downtimes": {"type": "array", "items": _DOWNTIME_SCHEMA}},
                    }
                }
            },
        }
    },
}
_WHEN = "an ISO 8601 time (UTC unless it has an offset), now, or +DURATION (e.g. +2h)"
_ADD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["entry", "comment"],
                    "additionalProperties": False,
                    "properties": {
                        "entry": {"type": "string", "description": 'an entry name, or "all"'},
                        "group": {"type": "string", "nullable": True},
                        "start": {"type": "string", "description": f"{_WHEN}; default now"},
                        "end": {
                            "type": "string",
                            "nullable": True,
                            "description": f"{_WHEN}; null: until ended",
                        },
                        "comment": {"type": "string", "maxLength": _COMMENT_MAX},
                    },
                }
            }
        },
    },
    "responses": {
        "201": {
            "description": "the downtime, with its id",
            "content": {"application/json": {"schema": _DOWNTIME_SCHEMA}},
        },
        "400": {"description": "bad input: unknown entry or group, bad time, end before start"},
        "413": {"description": "body too large"},
    },
}
_END_OPENAPI: dict[str, Any] = {
    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
    "responses": {
        "200": {
            "description": "the downtime as ended",
            "content": {"application/json": {"schema": _DOWNTIME_SCHEMA}},
        },
        "400": {"description": "the id is not a number"},
        "404": {"description": "no such downtime"},
    },
}
