"""The factory status pages (read access, like the log viewer): `/entries`, `/entries/NAME`,
`/groups/NAME` and `/factory` (`?range=1h|24h|7d`), and the same data as JSON
(`/api/v1/entries`, `/api/v1/entries/{name}/history`, `/api/v1/groups/{name}/history`,
`/api/v1/factory/history`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from aglidein.core.model import EntryHealth
from aglidein.services.auth import AccessDenied
from aglidein.services.history import FACTORY, HistoryRecorder
from aglidein.services.http import ApiRoute, json_response
from aglidein.services.pages_data import (
    EntriesPage,
    EntryRow,
    TotalRow,
    entries_page,
    history_json,
)
from aglidein.services.pages_html import (
    denied_html,
    entries_html,
    entry_html,
    error_html,
    total_html,
)
from aglidein.services.runtime import Runtime
from aglidein.store.history import RANGES, HistoryRange, history_range

__all__ = ["DEFAULT_RANGE", "StatusPages"]

DEFAULT_RANGE = "24h"
StatusDocument = Callable[[], Mapping[str, Any]]
_RANGE_PARAM = {
    "name": "range",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": list(RANGES), "default": DEFAULT_RANGE},
}
_NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


class StatusPages:
    """The pages and their JSON, from the status board, entry health and the history."""

    def __init__(
        self,
        runtime: Runtime,
        recorder: HistoryRecorder,
        health: Callable[[], Mapping[str, EntryHealth]],
        status: StatusDocument | None = None,
    ) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self._health = health
        # the document `/api/v1/status` serves (accounting included when it has it)
        self._status = status or (lambda: self.runtime.status.as_json())

    def routes(self) -> list[ApiRoute]:
        """The read routes: the pages and their JSON."""
        history = "history over a range (one point per minute or 10 minutes)"
        return [
            ApiRoute(
                "/entries",
                self._entries_page,
                summary="Entries page (HTML)",
                denied=_denied_page,
            ),
            ApiRoute(
                "/entries/{name}",
                self._history_page,
                summary="An entry's page with history charts (HTML)",
                openapi={"parameters": [_NAME_PARAM, _RANGE_PARAM]},
                denied=_denied_page,
            ),
            ApiRoute(
                "/groups/{name}",
                self._history_page,
                summary="A group's totals with history charts (HTML)",
                openapi={"parameters": [_NAME_PARAM, _RANGE_PARAM]},
                denied=_denied_page,
            ),
            ApiRoute(
                "/factory",
                self._history_page,
                summary="The factory's totals with history charts (HTML)",
                openapi={"parameters": [_RANGE_PARAM]},
                denied=_denied_page,
            ),
            ApiRoute(
                "/api/v1/entries",
                self._entries_json,
                summary="Every entry: health, demand, glideins, exits; group and factory totals",
            ),
            ApiRoute(
                "/api/v1/entries/{name}/history",
                self._history_json,
                summary=f"An entry's {history}",
                openapi=_history_openapi("entry", named=True),
            ),
            ApiRoute(
                "/api/v1/groups/{name}/history",
                self._history_json,
                summary=f"A group's {history}",
                openapi=_history_openapi("group", named=True),
            ),
            ApiRoute(
                "/api/v1/factory/history",
                self._history_json,
                summary=f"The factory's {history}",
                openapi=_history_openapi("factory", named=False),
            ),
        ]

    async def page(self) -> EntriesPage:
        """The entries page's data now."""
        config = self.runtime.config()
        return await entries_page(
            self._status(),
            self._health(),
            self.recorder,
            [g.name for g in config.groups],
            self.runtime.clock.now(),
        )

    async def _target(self, request: Request) -> tuple[_Target, HistoryRange] | Response:
        """The entry, group or factory and the range a request names, or the error
        response (HTML or JSON)."""
        path = request.url.path
        html = not path.startswith("/api/")
        token = request.query_params.get("access_token") if html else None
        try:
            span = history_range(request.query_params.get("range", DEFAULT_RANGE))
        except ValueError as exc:
            return _error(html, 400, str(exc), token)
        page = await self.page()
        name = str(request.path_params.get("name"))
        scope = _scope(path)
        row: EntryRow | TotalRow | None
        if scope == "entry":
            row = next((r for r in page.entries if r.entry == name), None)
        elif scope == "group":
            row = next((g for g in page.groups if g.name == name), None)
        else:
            name, row = page.factory_name, page.factory
        if row is None:
            return _error(html, 404, f"no {scope} named {name!r}", token)
        target = _Target(scope, FACTORY if scope == "factory" else name, name, row)
        return target, span

    async def _entries_page(self, request: Request) -> Response:
        token = request.query_params.get("access_token")
        return HTMLResponse(entries_html(await self.page(), token))

    async def _entries_json(self, request: Request) -> Response:
        return json_response((await self.page()).as_json())

    async def _history_page(self, request: Request) -> Response:
        found = await self._target(request)
        if isinstance(found, Response):
            return found
        target, span = found
        now = self.runtime.clock.now()
        samples = await self.recorder.store.series(target.scope, target.series, span, now)
        token = request.query_params.get("access_token")
        row = target.row
        if isinstance(row, EntryRow):
            return HTMLResponse(entry_html(row, span, samples, now, token))
        name = self.runtime.config().factory.name
        return HTMLResponse(total_html(row, name, span, samples, now, token))

    async def _history_json(self, request: Request) -> Response:
        found = await self._target(request)
        if isinstance(found, Response):
            return found
        target, span = found
        now = self.runtime.clock.now()
        samples = await self.recorder.store.series(target.scope, target.series, span, now)
        return json_response(history_json(target.scope, target.label, span, samples, now))


@dataclass(frozen=True, slots=True)
class _Target:
    """What a history page or route shows: its series and its row."""

    scope: str  # the history's scope (entry, group or factory), also its JSON key
    series: str  # the series' name in it
    label: str  # its name
    row: EntryRow | TotalRow


def _scope(path: str) -> str:
    """What a page or history route shows: an entry, a group or the factory."""
    if path.startswith(("/entries/", "/api/v1/entries/")):
        return "entry"
    return "group" if path.startswith(("/groups/", "/api/v1/groups/")) else "factory"


def _history_openapi(kind: str, *, named: bool) -> dict[str, Any]:
    responses = {"200": {"description": "OK"}, "400": {"description": "unknown range"}}
    if named:
        responses["404"] = {"description": f"no such {kind}"}
    params = [_NAME_PARAM, _RANGE_PARAM] if named else [_RANGE_PARAM]
    return {"parameters": params, "responses": responses}


def _denied_page(request: Request, denied: AccessDenied) -> Response:
    """HTML for a browser refused a page: what is wrong and how to sign in."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "access_token"]
    back = request.url.path + ("?" + urlencode(query) if query else "")
    html = denied_html(denied.status, str(denied), back, denied.sign_in)
    return HTMLResponse(html, status_code=denied.status)


def _error(html: bool, status: int, message: str, token: str | None) -> Response:
    if html:
        return HTMLResponse(error_html(status, message, token), status_code=status)
    return json_response({"error": message}, status)
