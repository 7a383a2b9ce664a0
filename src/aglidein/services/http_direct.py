"""The ASGI layer in front of the router: security headers on every response, and the
few hot endpoints (raw handlers) answered ahead of Starlette's router and middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SECURITY_HEADERS", "DirectRoutes", "RawHandler", "RawResponse", "SecurityHeaders"]

# Sent with every response: the viewer loads only its own files, is never framed, and
# leaks no URL (which may hold ?access_token=) to other sites.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response (streams too)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What a raw handler answers: the server adds Content-Length and SECURITY_HEADERS."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ((b"content-type", b"application/json"),)


# A raw handler gets the ASGI scope and receive channel and answers one RawResponse.
RawHandler = Callable[[Any, Any], Awaitable[RawResponse]]


class DirectRoutes:
    """ASGI app that answers a few hot (method, path) pairs with their raw handlers,
    ahead of Starlette's router and middleware; every other request goes to `app`.

    Responses get the same SECURITY_HEADERS, and `count(status)` is called for each."""

    def __init__(
        self, app: Any, routes: dict[tuple[str, str], tuple[RawHandler, Callable[[int], None]]]
    ) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            found = self.routes.get((scope["method"], scope["path"]))
            if found is not None:
                handler, count = found
                response = await handler(scope, receive)
                count(response.status)
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": [
                            (b"content-length", str(len(response.body)).encode()),
                            *response.headers,
                            *SECURITY_HEADERS,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": response.body})
                return
        await self.app(scope, receive, send)
