"""`POST /api/v1/logs` is served ahead of the router (issue 16 §3): the same answers,
headers and metrics as the routed handler."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

from aglidein.services.auth import Access
from aglidein.services.http import ApiRoute
from aglidein.services.http_direct import SECURITY_HEADERS, DirectRoutes, RawResponse
from tests.services.glidein_logs.helpers import LogServer, log_server, ndjson

# The limits are small so that one test reaches 429.
LOGS = "{rate_limit: {records_per_s: 1, burst: 30}}"


def requests(server: LogServer, glidein: str) -> list[tuple[bytes, dict[str, str]]]:
    """One request of every kind of answer, in an order that reaches each of them."""
    good = server.headers(glidein)
    return [
        (ndjson(range(1, 6)), good),
        (ndjson(range(1, 8)), good),  # 5 duplicates, 2 new
        (ndjson([8]) + b"\nnot json\n{}", good),
        (gzip.compress(ndjson([9, 10])), {**good, "Content-Encoding": "gzip"}),
        (b"x", {**good, "Content-Encoding": "br"}),
        (ndjson([11]), {**good, "Content-Type": "application/json"}),
        (ndjson([11]), {"Content-Type": "application/x-ndjson"}),
        (ndjson([11]), {**good, "Authorization": "Bearer nonsense"}),
        (ndjson(range(100, 131)), good),  # over the burst: 413
        (b"\x1f\x8b garbage", {**good, "Content-Encoding": "gzip"}),
        (ndjson(range(200, 230)), good),  # the bucket is empty now: 429
    ]


async def answers(
    client: httpx.AsyncClient, items: list[tuple[bytes, dict[str, str]]]
) -> list[tuple[int, bytes, str | None, str | None]]:
    out = []
    for body, headers in items:
        answer = await client.post("/api/v1/logs", content=body, headers=headers)
        out.append(
            (
                answer.status_code,
                answer.content,
                answer.headers.get("retry-after"),
                answer.headers.get("content-type"),
            )
        )
    return out


async def test_direct_and_routed_ingest_answer_alike(tmp_path: Path) -> None:
    async with log_server(tmp_path, logs=LOGS) as server:
        app = server.http.app
        assert isinstance(app, DirectRoutes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            direct = await answers(client, requests(server, "g-direct"))
        routed_app = httpx.ASGITransport(app=app.app)  # Starlette, without the direct path
        async with httpx.AsyncClient(transport=routed_app, base_url="http://t") as client:
            routed = await answers(client, requests(server, "g-routed"))
    assert [a[0] for a in direct] == [200, 200, 400, 200, 415, 415, 401, 401, 413, 400, 429]
    assert direct == routed
    assert direct[1][1] == b'{"accepted":2,"duplicates":5}'
    assert direct[-1][2] is not None
    assert int(direct[-1][2]) >= 1


async def test_direct_ingest_sends_the_security_headers_and_counts_requests(
    tmp_path: Path,
) -> None:
    async with log_server(tmp_path) as server, httpx.AsyncClient(timeout=30) as client:
        ok = await client.post(
            server.url + "/api/v1/logs", content=ndjson([1]), headers=server.headers("g1")
        )
        denied = await client.post(server.url + "/api/v1/logs", content=ndjson([2]))
        metrics = (await client.get(server.url + "/metrics")).text
    assert (ok.status_code, denied.status_code) == (200, 401)
    for answer in (ok, denied):
        for name, value in SECURITY_HEADERS:
            assert answer.headers[name.decode()] == value.decode()
        assert answer.headers["content-length"] == str(len(answer.content))
    assert 'aglidein_http_requests_total{result="2xx",state="log"} 1.0' in metrics
    assert 'aglidein_http_requests_total{result="4xx",state="log"} 1.0' in metrics


def test_a_raw_handler_cannot_skip_a_token_check() -> None:
    async def raw(scope: object, receive: object) -> RawResponse:
        return RawResponse(200, b"{}")

    async def handler(request: object) -> object:
        raise AssertionError

    with pytest.raises(ValueError, match="skips the read check"):
        ApiRoute("/api/v1/x", handler, access=Access.READ, raw=raw)  # type: ignore[arg-type]
