"""Operator actions on entries (DESIGN §8): disable, enable, drain; persisted.

`POST /api/v1/entries/{name}/disable`, `/enable`, `/drain` (body `{"hard": false}`),
admin only. A config `enabled: false` always wins over `enable`; `enable` also ends a
backoff. Gentle drain: no new glideins, idle and held ones removed, running ones
finish; hard drain: every glidein removed.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from aglidein.core.health import effective_state
from aglidein.core.model import OperatorState
from aglidein.services.auth import Access
from aglidein.services.cycle import CycleService
from aglidein.services.http import ApiRoute, json_response, small_body

__all__ = ["operator_routes"]

_ACTIONS = {
    "disable": OperatorState.DISABLED,
    "enable": OperatorState.ENABLED,
    "drain": OperatorState.DRAINING,
}


def operator_routes(cycle: CycleService) -> list[ApiRoute]:
    """The three admin routes, acting through the cycle service (owner of entry health)."""
    routes = []
    for action, operator in _ACTIONS.items():
        routes.append(
            ApiRoute(
                f"/api/v1/entries/{{name}}/{action}",
                _handler(cycle, operator),
                methods=("POST",),
                access=Access.ADMIN,
                summary=f"{action.capitalize()} an entry (persisted)",
                openapi=_openapi(action),
            )
        )
    return routes


def _handler(cycle: CycleService, operator: OperatorState) -> Any:
    async def handle(request: Request) -> Response:
        name = request.path_params["name"]
        config = cycle.runtime.config()
        if name not in {e.name for e in config.entries}:
            return json_response({"error": f"no entry named {name!r}"}, 404)
        hard = False
        body = await small_body(request, 4096)
        if body is None:
            return json_response({"error": "body over 4096 bytes"}, 413)
        if body.strip():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                return json_response({"error": "body must be JSON"}, 400)
            if not isinstance(data, dict) or not isinstance(data.get("hard", False), bool):
                return json_response({"error": 'body must be {"hard": true|false}'}, 400)
            hard = bool(data.get("hard", False))
        health = await cycle.set_operator(name, operator, hard=hard)
        state = effective_state(config, health, name, cycle.runtime.clock.now())
        return json_response(
            {
                "entry": name,
                "operator": health.operator.value,
                "drain_hard": health.drain_hard,
                "health": state.value,
                "config_enabled": config.entry(name).enabled,
            }
        )

    return handle


def _openapi(action: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": {"description": "the entry's operator state and effective health"},
            "404": {"description": "no such entry"},
        },
    }
    if action == "drain":
        operation["requestBody"] = {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"hard": {"type": "boolean"}}}
                }
            },
        }
    return operation
