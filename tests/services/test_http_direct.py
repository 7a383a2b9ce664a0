"""The ASGI layer in front of the router: hot paths answered directly, with the same
security headers every other response gets."""

from __future__ import annotations

from typing import Any

import httpx

from aglidein.services.http_direct import (
    SECURITY_HEADERS,
    DirectRoutes,
    RawResponse,
    SecurityHeaders,
)


async def _routed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"routed"})


async def test_a_hot_path_is_answered_directly_and_the_rest_routed() -> None:
    counted: list[int] = []

    async def hot(scope: Any, receive: Any) -> RawResponse:
        return RawResponse(202, b'{"ok":true}')

    app = DirectRoutes(SecurityHeaders(_routed), {("POST", "/hot"): (hot, counted.append)})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        direct = await client.post("/hot")
        other = await client.post("/other")
        get_hot = await client.get("/hot")  # another method: the router's
    assert (direct.status_code, direct.content) == (202, b'{"ok":true}')
    assert direct.headers["content-length"] == "11"
    assert counted == [202]
    assert (other.content, get_hot.content) == (b"routed", b"routed")
    for response in (direct, other):
        for name, value in SECURITY_HEADERS:
            assert response.headers[name.decode()] == value.decode()
    assert other.headers["x-app"] == "1"
