"""The glidein log service (DESIGN §8): ingest, search, live tail and the glidein list.

`LogService` is a daemon Service (in `Subsystems.stores`): it opens the log store and
the log-signing keyring, keeps the store metrics fresh, and contributes the routes.
`StreamCloser` (in `workers`, so it stops before HTTP) ends live tails on shutdown.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from aglidein.clock import SystemClock
from aglidein.config import LogsConfig
from aglidein.errors import StoreError
from aglidein.services.accounting import Accounting
from aglidein.services.auth import Access
from aglidein.services.glidein_logs import glidein_list
from aglidein.services.glidein_logs.glidein_list import glidein_page, parse_glidein_query
from aglidein.services.glidein_logs.glidein_view import ERROR_RESPONSE as _ERROR
from aglidein.services.glidein_logs.glidein_view import NULLABLE_STRING as _NULLABLE_STRING
from aglidein.services.glidein_logs.glidein_view import GlideinView
from aglidein.services.glidein_logs.ingest import Ingest, RateLimiter, TokenVerifier
from aglidein.services.glidein_logs.query import (
    GLIDEINS_PARAMETERS,
    LOG_PARAMETERS,
    STREAM_PARAMETERS,
    BadQuery,
    format_ts,
    parse_log_query,
)
from aglidein.services.glidein_logs.tail import TailHub
from aglidein.services.http import ApiRoute, json_response
from aglidein.services.runtime import Runtime
from aglidein.store.api import Cursor, LogQuery
from aglidein.store.process_store import ProcessLogStore
from aglidein.store.sqlite import DB_FILE, SqliteLogStore
from aglidein.store.userjobs import user_job_json

__all__ = ["LogService", "StreamCloser"]

log = structlog.get_logger()


class StreamCloser:
    """A worker Service whose stop ends every live tail (workers stop before HTTP)."""

    name = "log-streams"

    def __init__(self) -> None:
        self.stopping = anyio.Event()
        self._done = anyio.Event()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Wait for stop."""
        task_status.started()
        await self._done.wait()

    async def stop(self) -> None:
        """End the streams."""
        self.stopping.set()
        self._done.set()


class LogService:
    """Owns the log store and serves the log API."""

    name = "logs"

    def __init__(self, runtime: Runtime, closer: StreamCloser | None = None) -> None:
        self.runtime = runtime
        self.closer = closer or StreamCloser()
        self.accounting = Accounting(runtime, lambda: self.store)
        # On the wall clock the writer gets a process of its own (both cores under load);
        # a test's clock stays in charge of an in-process writer.
        self.store: SqliteLogStore = (
            ProcessLogStore(
                runtime.state_dir / DB_FILE, self._settings, on_usage=self.accounting.record
            )
            if isinstance(runtime.clock, SystemClock)
            else SqliteLogStore(
                runtime.state_dir / DB_FILE,
                self._settings,
                now=runtime.clock.now,
                on_usage=self.accounting.record,
            )
        )
        self.view = GlideinView(
            runtime.roster,
            lambda: self.store,
            lambda: runtime.state_dir / "glideins",
            lambda: [e.name for e in runtime.config().entries],
        )
        self.verifier = TokenVerifier(runtime.state_dir, now=runtime.clock.now)
        self.limiter = RateLimiter(self._settings)
        self.ingest = Ingest(
            lambda: self.store, self.verifier, self.limiter, self._settings, runtime.metrics
        )
        self.tails = TailHub(self.store, self.closer.stopping)
        self._stop = anyio.Event()

    async def reported(self) -> set[str]:
        """Glideins that posted log records (entry health: who never reported)."""
        return self.store.posted_glideins()

    def _settings(self) -> LogsConfig:
        return self.runtime.config().logs

    # --- Service -------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Load the keyring, open the store, update its metrics until stopped."""
        await anyio.to_thread.run_sync(self.verifier.load)
        async with anyio.create_task_group() as tg:
            await tg.start(self.store.run)
            await tg.start(self.tails.run)
            task_status.started()
            metrics = self.runtime.metrics
            while not self._stop.is_set():
                stats = self.store.stats()
                metrics.log_store_bytes.set(stats.size_bytes)
                metrics.log_index_lag.set(stats.index_lag_s)
                await self._settle_accounting()
                with anyio.move_on_after(1.0):
                    await self._stop.wait()
            self.closer.stopping.set()
            await self.store.stop()

    async def _settle_accounting(self) -> None:
        try:
            await self.accounting.settle_queue_ends()
        except StoreError as exc:  # the store is failing: the ends are counted from records
            log.warning("accounting.queue_ends_failed", error=str(exc))

    async def stop(self) -> None:
        """Close the store after queued batches are committed."""
        self._stop.set()

    def ready(self) -> tuple[bool, str]:
        """Readiness: the store is open and its last write succeeded."""
        stats = self.store.stats()
        return stats.writable, f"log store: {stats.last_error or 'not writable'}"

    # --- routes --------------------------------------------------------------------------

    def routes(self) -> list[ApiRoute]:
        """The log API."""
        return [
            ApiRoute(
                "/api/v1/logs",
                self.ingest,
                methods=("POST",),
                access=Access.LOG,
                summary="Ingest NDJSON log records from a glidein",
                openapi=INGEST_OPENAPI,
                raw=self.ingest.raw,
            ),
            ApiRoute(
                "/api/v1/logs",
                self.search,
                summary="Search log records",
                openapi={"parameters": LOG_PARAMETERS, "responses": _responses(SEARCH_SCHEMA)},
            ),
            ApiRoute(
                "/api/v1/logs/stream",
                self.stream,
                summary="Follow log records live (Server-Sent Events)",
                openapi={
                    "parameters": STREAM_PARAMETERS,
                    "responses": {
                        "200": {
                            "description": "an event stream: `event: record`, `data:` one record",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        "400": _ERROR,
                    },
                },
            ),
            ApiRoute(
                "/api/v1/glideins",
                self.glideins,
                summary="Glideins on the queue, recently ended, or that posted logs",
                openapi={
                    "description": GLIDEIN_LIST_DOC,
                    "parameters": GLIDEINS_PARAMETERS,
                    "responses": _responses(GLIDEINS_SCHEMA),
                },
            ),
            *self.view.routes(),
        ]

    async def search(self, request: Request) -> Response:
        """`GET /api/v1/logs`."""
        try:
            query = parse_log_query(request.query_params, self.runtime.clock.now())
            page = await self.store.search(query)
            runs = await self.store.job_runs(query.job) if query.job is not None else None
        except BadQuery as exc:
            return json_response({"error": str(exc)}, 400)
        except StoreError as exc:
            return json_response({"error": str(exc)}, 503, headers={"Retry-After": "5"})
        body: dict[str, Any] = {
            "records": page.records,
            "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
            "end_cursor": page.end_cursor.encode(),
            "index_lag_s": round(page.index_lag_s, 3),
        }
        if runs is not None:  # with `job`: which glideins ran it
            body["job_runs"] = [
                {"glidein": r.glidein, "entry": r.entry, **user_job_json(r.job, format_ts)}
                for r in runs
            ]
        return json_response(body)

    async def glideins(self, request: Request) -> Response:
        """`GET /api/v1/glideins`: the roster's glideins, then those known from logs."""
        try:
            query = parse_glidein_query(request.query_params)
            rows, next_cursor = await glidein_page(self.runtime.roster, self.store, query)
        except BadQuery as exc:
            return json_response({"error": str(exc)}, 400)
        except StoreError as exc:
            return json_response({"error": str(exc)}, 503, headers={"Retry-After": "5"})
        return json_response({"glideins": rows, "next_cursor": next_cursor})

    async def stream(self, request: Request) -> Response:
        """`GET /api/v1/logs/stream`: records as they arrive, from `cursor`,
        `Last-Event-ID` or now."""
        try:
            query = parse_log_query(request.query_params, self.runtime.clock.now(), stream=True)
            resume = request.headers.get("last-event-id")
            if resume:
                query = replace(query, cursor=Cursor.decode(resume))
            if query.cursor is None:
                start = await self.store.search(LogQuery(limit=1, descending=True))
                query = replace(query, cursor=start.end_cursor)
        except (BadQuery, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        except StoreError as exc:
            return json_response({"error": str(exc)}, 503, headers={"Retry-After": "5"})
        return StreamingResponse(
            self.tails.events(query),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


GLIDEIN_LIST_DOC = (glidein_list.__doc__ or "").split("\n\n", 1)[-1].strip()
_INGEST_RESULT = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"line": {"type": "integer"}, "error": {"type": "string"}},
            },
        },
        "errors_omitted": {
            "type": "integer",
            "description": "refused lines beyond the first 100 listed in errors",
        },
    },
    "required": ["accepted", "duplicates"],
}
INGEST_OPENAPI: dict[str, Any] = {
    "description": "One JSON record per line (DESIGN §8). 2xx only once the accepted records "
    "are durable; a retried batch is acknowledged as duplicates.",
    "parameters": [
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": ["identity", "gzip"]},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    },
    "responses": {
        "200": {
            "description": "stored",
            "content": {"application/json": {"schema": _INGEST_RESULT}},
        },
        "400": {
            "description": "some lines refused; the valid ones are stored",
            "content": {"application/json": {"schema": _INGEST_RESULT}},
        },
        "401": _ERROR,
        "403": _ERROR,
        "413": _ERROR,
        "415": _ERROR,
        "429": _ERROR,
        "503": _ERROR,
    },
}
SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "records": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": "string", "nullable": True},
        "end_cursor": {"type": "string"},
        "index_lag_s": {"type": "number"},
        "job_runs": {
            "type": "array",
            "description": "with job=: each glidein that ran a matching user job, and the job "
            "(glidein, entry, job, owner, start, end, exit_code, exit_signal)",
            "items": {"type": "object"},
        },
    },
    "required": ["records", "next_cursor", "end_cursor", "index_lag_s"],
}
GLIDEINS_SCHEMA = {
    "type": "object",
    "properties": {
        "glideins": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "glidein": {"type": "string"},
                    "entry": {"type": "string"},
                    "state": {
                        "type": "string",
                        "enum": ["active", "silent", "ended", "none"],
                        "description": "what the logs say; none: it never posted",
                    },
                    "first_ts": {"type": "string", "nullable": True},
                    "last_ts": {"type": "string", "nullable": True},
                    "record_count": {"type": "integer"},
                    "last_error": {"type": "string", "nullable": True},
                    "last_record": {
                        "type": "object",
                        "nullable": True,
                        "description": "the last record received (ts, level, event, msg)",
                    },
                    "job_id": {**_NULLABLE_STRING, "description": "ClusterId.ProcId"},
                    "schedd": {
                        **_NULLABLE_STRING,
                        "description": "the factory schedd of job_id (job ids repeat across them)",
                    },
                    "grid_job_id": {**_NULLABLE_STRING, "description": "GridJobId"},
                    "group": _NULLABLE_STRING,
                    "job_state": {
                        **_NULLABLE_STRING,
                        "description": "on the factory schedd: idle, running, held, ...; "
                        "ended once gone from the queue; null: known only from its logs",
                    },
                    "worker": {**_NULLABLE_STRING, "description": "the worker node"},
                    "queued": _NULLABLE_STRING,
                    "started": _NULLABLE_STRING,
                    "ended": _NULLABLE_STRING,
                    "hold_reason": _NULLABLE_STRING,
                    "exit_reason": _NULLABLE_STRING,
                    "exit_code": {"type": "integer", "nullable": True},
                },
                "required": ["glidein", "entry", "state", "record_count"],
            },
        },
        "next_cursor": {"type": "string", "nullable": True},
    },
    "required": ["glideins", "next_cursor"],
}


def _responses(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
        "400": _ERROR,
        "503": _ERROR,
    }
