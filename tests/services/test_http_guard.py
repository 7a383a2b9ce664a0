"""Stalled connections are closed and open connections are capped (issue 14 §4)."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import anyio
import httpx
import pytest

from aglidein.services.http_guard import GuardedHttpProtocol
from tests.services.glidein_logs.helpers import LogServer, eventually, log_server, ndjson


@pytest.fixture
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GuardedHttpProtocol, "header_timeout_s", 1.0)
    monkeypatch.setattr(GuardedHttpProtocol, "body_idle_timeout_s", 1.0)


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """The server closed `sock` (EOF or reset) within the bound."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


async def test_silent_and_slowloris_connections_are_closed(
    tmp_path: Path, short_deadlines: None
) -> None:
    async with log_server(tmp_path) as server:
        silent = [_connect(server.url) for _ in range(20)]
        slow = [_connect(server.url) for _ in range(5)]
        started = time.monotonic()
        for sock in slow:
            sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for i in range(6):  # a header line every 0.3 s never completes the request
            for sock in slow:
                with contextlib.suppress(OSError):  # already closed by the server
                    sock.send(b"X-Slow-%d: 1\r\n" % i)
            await anyio.sleep(0.3)
        closed = [
            await anyio.to_thread.run_sync(_closed_by_server, sock, 15.0) for sock in silent + slow
        ]
        assert all(closed)
        assert time.monotonic() - started < 30  # liveness bound, far above the 1 s deadline
        for sock in silent + slow:
            sock.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200


async def test_body_shorter_than_content_length_is_closed(
    tmp_path: Path, short_deadlines: None
) -> None:
    async with log_server(tmp_path) as server:
        sock = _connect(server.url)
        sock.send(
            b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + server.token("g1").encode()
            + b'\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{"seq":'
        )
        assert await anyio.to_thread.run_sync(_closed_by_server, sock, 15.0)
        sock.close()


async def test_a_slow_but_moving_request_is_served(tmp_path: Path, short_deadlines: None) -> None:
    """A long-lived stream (SSE) and an idle keep-alive are not cut by the read deadlines."""
    async with (
        log_server(tmp_path) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
        client.stream("GET", "/api/v1/logs/stream") as stream,
    ):
        await anyio.sleep(2.5)  # past both deadlines
        chunks = stream.aiter_bytes()
        first = await chunks.__anext__()
        assert first.startswith(b": aglidein log stream")
        assert (await client.get("/healthz")).status_code == 200


async def test_connections_over_the_cap_are_closed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GuardedHttpProtocol, "max_connections", 10)
    async with log_server(tmp_path) as server:
        held = [_connect(server.url) for _ in range(10)]
        await anyio.sleep(0.5)
        extra = _connect(server.url)
        assert await anyio.to_thread.run_sync(_closed_by_server, extra, 10.0)
        extra.close()
        for sock in held:
            sock.close()
        await anyio.sleep(0.5)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200


async def test_a_tail_that_stops_reading_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GuardedHttpProtocol, "write_stall_timeout_s", 1.0)
    async with log_server(tmp_path) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.send(b"GET /api/v1/logs/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            await eventually(lambda: server.logs.tails.following == 1)
            msg = "x" * 2000 + " {seq}"
            for b in range(40):  # ~4 MB of events the client never reads
                batch = ndjson(range(b * 50, b * 50 + 50), msg=msg)
                assert (await post_batch(server, batch)).status_code == 200
                if server.logs.tails.following == 0:
                    break
            await eventually(lambda: server.logs.tails.following == 0, 20)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200


async def post_batch(server: LogServer, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            server.url + "/api/v1/logs", content=body, headers=server.headers("g1")
        )


async def test_endless_headers_are_cut_off(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        sock = _connect(server.url)
        sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ")
        with contextlib.suppress(OSError):  # the server hangs up part way
            for _ in range(200):  # 200 x 1 KiB, sent well within the header deadline
                sock.send(b"a" * 1024)
        assert await anyio.to_thread.run_sync(_closed_by_server, sock, 10.0)
        sock.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            big_but_fine = {"X-Fine": "b" * 8000}
            assert (await client.get("/healthz", headers=big_but_fine)).status_code == 200
            posted = await client.post(
                "/api/v1/logs",
                content=ndjson(range(3000)),  # a body far past the header limit, in one go
                headers=server.headers("g1"),
            )
            assert posted.status_code == 200
