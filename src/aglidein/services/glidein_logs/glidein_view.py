"""One glidein: `GET /api/v1/glideins/{glidein}` (its list row, the user jobs its
records name, links to its output files) and `GET /api/v1/glideins/{glidein}/files/
{out|err}` (the grid job's stdout / stderr, read auth like the log API).

The files live at `state_dir/glideins/<entry>/<glidein>.out|.err` (DESIGN §6). The
glidein id is checked against a strict pattern and the entry comes from the roster,
the log store or the config — never from the request — so a request can only name a
file of a glidein under an entry directory; the file is opened without following
symlinks. Only the tail is served (`tail_bytes`, at most `MAX_TAIL_BYTES`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from aglidein.errors import StoreError
from aglidein.services.auth import Access
from aglidein.services.glidein_logs.glidein_list import roster_glidein_json
from aglidein.services.glidein_logs.query import BadQuery, format_ts, int_param
from aglidein.services.http import ApiRoute, json_response
from aglidein.services.roster import GlideinRoster
from aglidein.store.api import LogStore
from aglidein.store.userjobs import user_job_json

__all__ = ["FILE_KINDS", "MAX_TAIL_BYTES", "GlideinView", "read_tail"]

FILE_KINDS = ("out", "err")
DEFAULT_TAIL_BYTES = 256 * 1024
MAX_TAIL_BYTES = 8 * 1024 * 1024
_GLIDEIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")


@dataclass(frozen=True, slots=True)
class FileTail:
    """The end of one output file."""

    data: bytes
    size: int
    truncated: bool


def read_tail(path: Path, tail_bytes: int) -> FileTail | None:
    """The last `tail_bytes` of a regular file (not followed through a symlink); None
    when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None  # a FIFO or device planted in the directory is never read
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - tail_bytes)
        handle.seek(start)
        return FileTail(handle.read(tail_bytes), size, start > 0)


class GlideinView:
    """Serves one glidein's detail and its output files."""

    def __init__(
        self,
        roster: GlideinRoster,
        store: Callable[[], LogStore],
        glideins_dir: Callable[[], Path],
        entries: Callable[[], list[str]],
    ) -> None:
        self._roster = roster
        self._store = store
        self._glideins_dir = glideins_dir
        self._entries = entries

    def routes(self) -> list[ApiRoute]:
        """The two read routes."""
        name = {"name": "glidein", "in": "path", "required": True, "schema": {"type": "string"}}
        return [
            ApiRoute(
                "/api/v1/glideins/{glidein}",
                self.detail,
                access=Access.READ,
                summary="One glidein: its list row, the user jobs it ran, its output files",
                openapi={"parameters": [name], "responses": _responses(DETAIL_SCHEMA)},
            ),
            ApiRoute(
                "/api/v1/glideins/{glidein}/files/{kind}",
                self.file,
                access=Access.READ,
                summary="The end of a glidein's stdout (out) or stderr (err) file",
                openapi={
                    "parameters": [
                        name,
                        {
                            "name": "kind",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(FILE_KINDS)},
                        },
                        {
                            "name": "tail_bytes",
                            "in": "query",
                            "required": False,
                            "description": "at most this many bytes from the end",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_TAIL_BYTES,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the file's end; X-Aglidein-File-Size is its size, "
                            "X-Aglidein-Truncated says whether the start was left out",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "400": ERROR_RESPONSE,
                        "404": ERROR_RESPONSE,
                    },
                },
            ),
        ]

    async def detail(self, request: Request) -> Response:
        """`GET /api/v1/glideins/{glidein}`: 404 when neither the queue nor the logs know it."""
        name = request.path_params["glidein"]
        if not _GLIDEIN_ID.match(name):
            return json_response({"error": f"no glidein {name[:80]!r}"}, 404)
        store = self._store()
        try:
            details = await store.glidein_details([name])
            jobs = await store.user_jobs(name)
        except StoreError as exc:
            return json_response({"error": str(exc)}, 503, headers={"Retry-After": "5"})
        glidein = self._roster.get(name)
        detail = details.get(name)
        if glidein is None and detail is None:
            return json_response({"error": f"no glidein {name!r}"}, 404)
        row = roster_glidein_json(glidein, detail)
        row["user_jobs"] = [user_job_json(j, format_ts) for j in jobs or []]
        found = await anyio.to_thread.run_sync(self._files, name, row["entry"])
        row["files"] = {
            kind: f"/api/v1/glideins/{name}/files/{kind}" if kind in found else None
            for kind in FILE_KINDS
        }
        return json_response(row)

    async def file(self, request: Request) -> Response:
        """`GET /api/v1/glideins/{glidein}/files/{kind}`: the file's tail as text."""
        name = request.path_params["glidein"]
        kind = request.path_params["kind"]
        if kind not in FILE_KINDS:
            return json_response({"error": "the file is out or err"}, 404)
        try:
            tail_bytes = int_param(
                request.query_params, "tail_bytes", DEFAULT_TAIL_BYTES, 1, MAX_TAIL_BYTES
            )
        except BadQuery as exc:
            return json_response({"error": str(exc)}, 400)
        if not _GLIDEIN_ID.match(name):
            return json_response({"error": f"no glidein {name[:80]!r}"}, 404)
        entry = await self._entry_of(name)
        tail = await anyio.to_thread.run_sync(self._read, name, entry, kind, tail_bytes)
        if tail is None:
            return json_response({"error": f"glidein {name}: no .{kind} file (gone?)"}, 404)
        return Response(
            tail.data,
            media_type="text/plain; charset=utf-8",
            headers={
                "X-Aglidein-File-Size": str(tail.size),
                "X-Aglidein-Truncated": "true" if tail.truncated else "false",
                "Cache-Control": "no-store",
            },
        )

    async def _entry_of(self, name: str) -> str | None:
        glidein = self._roster.get(name)
        if glidein is not None:
            return glidein.entry
        try:
            details = await self._store().glidein_details([name])
        except StoreError:
            return None
        detail = details.get(name)
        return detail.summary.entry if detail is not None else None

    def _candidates(self, name: str, entry: str | None) -> list[str]:
        """Entry directories the glidein's files may be in (known entries first)."""
        names = [entry] if entry else []
        names += [e for e in self._entries() if e != entry]
        return [e for e in names if _ENTRY_NAME.match(e)]

    def _read(self, name: str, entry: str | None, kind: str, tail_bytes: int) -> FileTail | None:
        root = self._glideins_dir()
        for candidate in self._candidates(name, entry):
            tail = read_tail(root / candidate / f"{name}.{kind}", tail_bytes)
            if tail is not None:
                return tail
        return None

    def _files(self, name: str, entry: str | None) -> set[str]:
        root = self._glideins_dir()
        found: set[str] = set()
        for candidate in self._candidates(name, entry):
            for kind in FILE_KINDS:
                path = root / candidate / f"{name}.{kind}"
                if path.is_file() and not path.is_symlink():
                    found.add(kind)
            if found:
                break
        return found


# OpenAPI parts the log API shares (services/glidein_logs/service.py)
ERROR_RESPONSE = {
    "description": "error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
NULLABLE_STRING = {"type": "string", "nullable": True}
DETAIL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "a row of GET /api/v1/glideins, plus user_jobs and files",
    "properties": {
        "glidein": {"type": "string"},
        "entry": {"type": "string"},
        "user_jobs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "job": {"type": "string", "description": "Cluster.Proc@schedd"},
                    "owner": NULLABLE_STRING,
                    "start": NULLABLE_STRING,
                    "end": NULLABLE_STRING,
                    "exit_code": {"type": "integer", "nullable": True},
                    "exit_signal": {"type": "integer", "nullable": True},
                },
            },
        },
        "files": {
            "type": "object",
            "properties": {"out": NULLABLE_STRING, "err": NULLABLE_STRING},
            "description": "URLs of the output files that are still on disk",
        },
    },
    "required": ["glidein", "entry", "user_jobs", "files"],
}


def _responses(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "404": ERROR_RESPONSE,
        "503": ERROR_RESPONSE,
    }
