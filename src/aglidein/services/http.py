"""The one HTTP server (DESIGN §8): uvicorn inside our task group, on every `http.listen`.

Other services contribute routes as `ApiRoute`s (path, handler, auth class, OpenAPI
operation); this module adds `/healthz`, `/readyz`, `/metrics`, `/api/v1/status`,
`/api/v1/reload`, `/api/v1/session`, `/api/v1/openapi.json` and serves the viewer.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from aglidein import __version__
from aglidein.config import Config, expand_path
from aglidein.services.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME_S,
    Access,
    AccessDenied,
    Sessions,
    TokenSet,
    check_access,
    same_origin,
    token_access,
)
from aglidein.services.http_direct import (
    DirectRoutes,
    RawHandler,
    RawResponse,
    SecurityHeaders,
)
from aglidein.services.http_guard import GuardedHttpProtocol, connection_cap
from aglidein.services.metrics import CONTENT_TYPE
from aglidein.services.runtime import Runtime

__all__ = [
    "ApiRoute",
    "DeniedHandler",
    "HttpService",
    "RawHandler",
    "RawResponse",
    "json_response",
    "small_body",
]

log = structlog.get_logger()
Handler = Callable[[Request], Awaitable[Response]]
# How a route answers a refused request; the default is the API's JSON `{"error": ...}`.
DeniedHandler = Callable[[Request, AccessDenied], Response]

SESSION_BODY_MAX = 4096


async def small_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (read no further)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded with orjson."""
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


@dataclass(frozen=True)
class ApiRoute:
    """One endpoint: the handler is wrapped with the auth check of its class."""

    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)
    access: Access = Access.READ
    summary: str = ""
    openapi: dict[str, Any] = field(default_factory=dict)  # extra operation fields
    # Served ahead of the router when set (hot paths; only for Access.NONE and LOG, whose
    # handlers check their own credentials); `handler` still serves the routed request.
    raw: RawHandler | None = None
    # Pages for browsers answer a refusal with HTML saying how to sign in
    denied: DeniedHandler | None = None

    def __post_init__(self) -> None:
        if self.raw is not None and self.access not in (Access.NONE, Access.LOG):
            raise ValueError(f"{self.path}: a raw handler skips the {self.access.value} check")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: signals belong to daemon.py."""

    def capture_signals(self) -> Any:
        import contextlib

        return contextlib.nullcontext()


class HttpService:
    """Serves the API, metrics, health and the viewer."""

    name = "http"

    def __init__(self, runtime: Runtime, routes: Sequence[ApiRoute] = ()) -> None:
        self.runtime = runtime
        self.tokens = TokenSet.from_config(runtime.config().http)
        self.sessions = Sessions()
        self.stopping = anyio.Event()  # long-lived responses (SSE) end when set
        self.ready_checks: list[Callable[[], tuple[bool, str]]] = []
        self._server: _Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._routes = [*self._own_routes(), *routes]
        self.app = self._build_app()
        self._next_tokens: TokenSet | None = None
        runtime.config.on_check(self._check_reload)
        runtime.config.on_reload(self._reloaded)
        self.bound: list[tuple[str, int]] = []

    # --- app ----------------------------------------------------------------------------

    def _own_routes(self) -> list[ApiRoute]:
        return [
            ApiRoute("/healthz", self._healthz, access=Access.NONE, summary="Liveness"),
            ApiRoute("/readyz", self._readyz, access=Access.NONE, summary="Readiness"),
            ApiRoute("/metrics", self._metrics, access=Access.NONE, summary="Prometheus metrics"),
            ApiRoute("/api/v1/status", self._status, summary="Factory status (DESIGN §8)"),
            ApiRoute(
                "/api/v1/reload",
                self._reload,
                methods=("POST",),
                access=Access.ADMIN,
                summary="Reload the config (same as SIGHUP)",
            ),
            ApiRoute(
                "/api/v1/session",
                self._session,
                methods=("POST",),
                access=Access.NONE,
                summary="Exchange the read token for the viewer's session cookie",
                openapi={
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"token": {"type": "string"}},
                                    "required": ["token"],
                                }
                            }
                        }
                    }
                },
            ),
            ApiRoute(
                "/api/v1/openapi.json",
                self._openapi,
                access=Access.NONE,
                summary="This OpenAPI document",
            ),
        ]

    def _build_app(self) -> DirectRoutes:
        routes: list[BaseRoute] = [
            Route(r.path, self._guard(r), methods=list(r.methods)) for r in self._routes
        ]
        web = _web_dir()
        if web is not None and (web / "index.html").exists():
            routes.append(Mount("/", app=StaticFiles(directory=web, html=True), name="viewer"))
        app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
        direct = {
            (method, r.path): (r.raw, self._counter(r.access))
            for r in self._routes
            if r.raw is not None
            for method in r.methods
        }
        return DirectRoutes(app, direct)

    def _counter(self, access: Access) -> Callable[[int], None]:
        requests = self.runtime.metrics.http_requests
        by_class = {n: requests.labels(state=access.value, result=f"{n}xx") for n in range(1, 6)}

        def count(status: int) -> None:
            by_class[status // 100].inc()

        return count

    def _guard(self, route: ApiRoute) -> Handler:
        metrics = self.runtime.metrics

        async def endpoint(request: Request) -> Response:
            try:
                check_access(request, route.access, self.tokens, self.sessions)
            except AccessDenied as exc:
                metrics.http_requests.labels(state=route.access.value, result="denied").inc()
                if route.denied is not None:
                    return route.denied(request, exc)
                return json_response({"error": str(exc)}, exc.status)
            response = await route.handler(request)
            metrics.http_requests.labels(
                state=route.access.value, result=f"{response.status_code // 100}xx"
            ).inc()
            return response

        return endpoint

    async def _healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        problems = [] if self.runtime.status.ready else ["services not started"]
        for check in self.ready_checks:
            ok, why = check()
            if not ok:
                problems.append(why)
        if problems:
            return json_response({"status": "not ready", "problems": problems}, 503)
        return json_response({"status": "ready"})

    async def _metrics(self, request: Request) -> Response:
        return Response(self.runtime.metrics.render(), media_type=CONTENT_TYPE)

    async def _status(self, request: Request) -> Response:
        document = self.runtime.status.as_json()
        document["config"] = await anyio.to_thread.run_sync(self.runtime.config.file_state)
        return json_response(document)

    async def _reload(self, request: Request) -> Response:
        result = await self.runtime.config.reload(self.runtime.metrics)
        return json_response(result.as_json(), 200 if result.ok else 422)

    async def _session(self, request: Request) -> Response:
        if not same_origin(request, self.runtime.config().http.public_url):
            return json_response({"error": "cross-origin sign-in refused"}, 403)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return json_response({"error": "Content-Type must be application/json"}, 415)
        raw = await small_body(request, SESSION_BODY_MAX)
        if raw is None:
            return json_response({"error": f"body over {SESSION_BODY_MAX} bytes"}, 413)
        try:
            body = orjson.loads(raw)
            token = str(body["token"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return json_response({"error": 'body must be {"token": "..."}'}, 400)
        if self.tokens.read is None and self.tokens.admin is None:
            return json_response(
                {"error": "no read_token_file: the read API answers only to localhost"}, 403
            )
        access = token_access(token, self.tokens)
        if access is None:
            return json_response({"error": "token not valid for the read API"}, 403)
        response = json_response({"ok": True})
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.open(access),
            max_age=SESSION_LIFETIME_S,
            httponly=True,
            samesite="strict",
            secure=self._ssl is not None,
            path="/",
        )
        return response

    async def _openapi(self, request: Request) -> Response:
        return json_response(self.openapi())

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of every route."""
        paths: dict[str, dict[str, Any]] = {}
        for route in self._routes:
            for method in route.methods:
                operation: dict[str, Any] = {
                    "summary": route.summary or route.path,
                    "responses": {"200": {"description": "OK"}},
                    **route.openapi,
                }
                if route.access in (Access.READ, Access.ADMIN):
                    operation["security"] = [{"bearer": []}]
                    operation["responses"].update(
                        {"401": {"description": "no token"}, "403": {"description": "denied"}}
                    )
                elif route.access is Access.LOG:
                    operation["security"] = [{"logToken": []}]
                operation.setdefault("x-aglidein-auth", route.access.value)
                paths.setdefault(route.path, {})[method.lower()] = operation
        return {
            "openapi": "3.0.3",
            "info": {"title": "aglidein", "version": __version__},
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "logToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                }
            },
        }

    # --- server -------------------------------------------------------------------------

    def _check_reload(self, new: Config) -> None:
        """Read the new token files and TLS key pair before the reload is applied."""
        self._next_tokens = TokenSet.from_config(new.http)
        if new.http.tls is not None and self._ssl is not None:
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                probe.load_cert_chain(expand_path(new.http.tls.cert), expand_path(new.http.tls.key))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"http.tls: cannot load the certificate and key: {exc}") from None
        elif (new.http.tls is None) != (self._ssl is None):
            raise ValueError("http.tls turned on or off: it takes effect only after a restart")

    async def _reloaded(self, old: Config, new: Config) -> None:
        tokens = self._next_tokens or TokenSet.from_config(new.http)
        self._next_tokens = None
        if tokens != self.tokens:
            self.sessions.clear()  # a session never outlives the token that opened it
        self.tokens = tokens
        if self._ssl is not None and new.http.tls is not None:
            self._ssl.load_cert_chain(expand_path(new.http.tls.cert), expand_path(new.http.tls.key))
            log.info("http.tls_reloaded")

    def _sockets(self, config: Config) -> list[socket.socket]:
        sockets = []
        for host, port in config.http.listen_addresses():
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                from aglidein.errors import ConfigError

                raise ConfigError(
                    f"http.listen: cannot bind {host}:{port}: {exc.strerror}"
                ) from None
            sock.listen(2048)
            sock.setblocking(False)
            name = sock.getsockname()
            self.bound.append((str(name[0]), int(name[1])))
            sockets.append(sock)
        return sockets

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until `stop()`."""
        config = self.runtime.config()
        tls = config.http.tls
        cap = min(GuardedHttpProtocol.max_connections, connection_cap())
        protocol: type[GuardedHttpProtocol] = type(
            "HttpProtocol", (GuardedHttpProtocol,), {"max_connections": cap}
        )
        uv_config = uvicorn.Config(
            self.app,
            loop="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=max(1, int(config.factory.shutdown_grace) - 1),
            timeout_keep_alive=30,
            http=protocol,
            limit_concurrency=max(8, protocol.max_connections - 64),  # 503 before the cap
            ssl_certfile=str(expand_path(tls.cert)) if tls else None,
            ssl_keyfile=str(expand_path(tls.key)) if tls else None,
        )
        uv_config.load()
        self._ssl = uv_config.ssl
        server = self._server = _Server(uv_config)
        sockets = self._sockets(config)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve, sockets)
                while not server.started and not server.should_exit:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                log.info("http.listening", addresses=[f"{h}:{p}" for h, p in self.bound])
                task_status.started()
        finally:
            for sock in sockets:
                sock.close()

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests, end long-lived streams."""
        self.stopping.set()
        if self._server is not None:
            self._server.should_exit = True


def _web_dir() -> Path | None:
    try:
        path = Path(str(resources.files("aglidein") / "web"))
    except (ModuleNotFoundError, TypeError):
        return None
    return path if path.is_dir() else None
