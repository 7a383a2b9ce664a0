"""`POST /api/v1/logs` and the read API against a real server (DESIGN §8)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import anyio
import httpx
import jwt
import orjson

from aglidein.logkeys import LOG_AUDIENCE, LogKeyring
from tests.services.glidein_logs.helpers import LogServer, eventually, log_server, ndjson


async def post(
    server: LogServer, body: bytes, glidein: str = "g1", **headers: str
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            server.url + "/api/v1/logs",
            content=body,
            headers={**server.headers(glidein), **headers},
        )


async def test_accepts_reports_duplicates_and_bad_lines(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        first = await post(server, ndjson(range(10)))
        assert first.status_code == 200
        assert first.json() == {"accepted": 10, "duplicates": 0}
        retry = await post(server, ndjson(range(5, 12)))
        assert retry.json() == {"accepted": 2, "duplicates": 5}
        mixed = await post(server, ndjson([20]) + b"\n{broken\n" + ndjson([21]) + b'\n{"seq": 22}')
        assert mixed.status_code == 400
        body = mixed.json()
        assert (body["accepted"], body["duplicates"]) == (2, 0)
        assert [e["line"] for e in body["errors"]] == [2, 4]
        gz = await post(
            server, gzip.compress(ndjson(range(30, 40))), **{"Content-Encoding": "gzip"}
        )
        assert gz.json() == {"accepted": 10, "duplicates": 0}
        async with httpx.AsyncClient(base_url=server.url) as client:
            found = (
                await client.get("/api/v1/logs", params={"glidein": "g1", "limit": 100})
            ).json()
            glideins = (await client.get("/api/v1/glideins")).json()
        assert [r["seq"] for r in found["records"]] == [*range(12), 20, 21, *range(30, 40)]
        assert found["records"][0]["entry"] == "E1"
        assert glideins["glideins"][0]["record_count"] == 24
        assert glideins["next_cursor"] is None


async def test_auth_matrix(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        ring = server.keyring()
        now = time.time()
        good = ring.mint("g", "E", now=now, lifetime=600)
        expired = ring.mint("g", "E", now=now - 7200, lifetime=600)
        forged = LogKeyring(b"x" * 32).mint("g", "E", now=now, lifetime=600)
        forged_same_kid = jwt.encode(
            {"sub": "g", "aud": LOG_AUDIENCE, "exp": int(now + 600)},
            b"y" * 32,
            algorithm="HS256",
            headers={"kid": ring.kid},
        )
        other_audience = jwt.encode(
            {"sub": "g", "aud": "someone-else", "exp": int(now + 600)},
            ring.current,
            algorithm="HS256",
            headers={"kid": ring.kid},
        )
        cases = {
            None: 401,
            "not-a-jwt": 401,
            forged: 401,
            forged_same_kid: 401,
            expired: 401,
            other_audience: 403,
            good: 200,
        }
        async with httpx.AsyncClient(base_url=server.url) as client:
            for token, status in cases.items():
                headers = {"Content-Type": "application/x-ndjson"}
                if token is not None:
                    headers["Authorization"] = f"Bearer {token}"
                response = await client.post("/api/v1/logs", content=ndjson([1]), headers=headers)
                assert response.status_code == status, (token, response.text)
                if status != 200:
                    assert "error" in response.json()
            LogKeyring.rotate(server.state_dir)
            await anyio.sleep(1.1)  # the verifier notices key files changing within a second
            new = LogKeyring.load(server.state_dir).mint("g2", "E", now=time.time(), lifetime=600)
            for token in (good, new):
                response = await client.post(
                    "/api/v1/logs",
                    content=ndjson([2]),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/x-ndjson",
                    },
                )
                assert response.status_code == 200, response.text


async def test_media_type_encoding_and_size_limits(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        assert (
            await post(server, ndjson([1]), **{"Content-Type": "application/json"})
        ).status_code == 415
        assert (await post(server, ndjson([1]), **{"Content-Encoding": "br"})).status_code == 415
        big = b"\n" * (1024 * 1024 + 1)
        assert (await post(server, big)).status_code == 413
        bomb = gzip.compress(b" " * (9 * 1024 * 1024))
        assert len(bomb) < 1024 * 1024
        assert (await post(server, bomb, **{"Content-Encoding": "gzip"})).status_code == 413
        assert (await post(server, b"not gzip", **{"Content-Encoding": "gzip"})).status_code == 400


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    async with log_server(tmp_path, logs="{rate_limit: {records_per_s: 10, burst: 20}}") as server:
        assert (await post(server, ndjson(range(20)))).status_code == 200
        limited = await post(server, ndjson(range(20, 40)))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert (await post(server, ndjson(range(20, 21)), glidein="other")).status_code == 200


async def test_store_failure_is_503_with_retry_after(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        await server.logs.store.stop()
        await eventually(lambda: not server.logs.store.stats().writable)
        response = await post(server, ndjson([1]))
        assert response.status_code == 503
        assert response.headers["retry-after"]
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/readyz")).status_code == 503


async def test_search_validation_and_glidein_pages(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        for i in range(5):
            await post(server, ndjson([0, 1], level="error" if i == 3 else "info"), glidein=f"g{i}")
        async with httpx.AsyncClient(base_url=server.url) as client:
            for params in (
                {"level": "loud"},
                {"limit": "0"},
                {"limit": "10001"},
                {"cursor": "x"},
                {"since": "yesterday"},
            ):
                assert (await client.get("/api/v1/logs", params=params)).status_code == 400
            errors = (await client.get("/api/v1/logs", params={"level": "error,critical"})).json()
            assert {r["glidein"] for r in errors["records"]} == {"g3"}
            page = (await client.get("/api/v1/glideins", params={"limit": 2})).json()
            names = [g["glidein"] for g in page["glideins"]]
            while page["next_cursor"]:
                page = (
                    await client.get(
                        "/api/v1/glideins", params={"limit": 2, "cursor": page["next_cursor"]}
                    )
                ).json()
                names += [g["glidein"] for g in page["glideins"]]
            assert names == [f"g{i}" for i in range(5)]
            g3 = next(
                g
                for g in (await client.get("/api/v1/glideins")).json()["glideins"]
                if g["glidein"] == "g3"
            )
            assert g3["last_error"] == "step 1"
            assert g3["state"] == "active"
            assert g3["first_ts"] == "2026-01-01T00:00:00.000Z"


async def test_stream_delivers_new_records_and_ends_on_shutdown(tmp_path: Path) -> None:
    received: list[dict[str, object]] = []
    ended = anyio.Event()
    async with log_server(tmp_path) as server:
        await post(server, ndjson(range(3)), glidein="g1")

        async def listen() -> None:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                client.stream("GET", "/api/v1/logs/stream", params={"glidein": "g1"}) as response,
            ):
                assert response.headers["content-type"].startswith("text/event-stream")
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        received.append(orjson.loads(line[6:]))
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await anyio.sleep(0.5)
            await post(server, ndjson(range(3, 6)), glidein="g1")
            await post(server, ndjson(range(100, 103)), glidein="g2")
            await eventually(lambda: len(received) >= 3)
            await server.logs.closer.stop()  # what shutdown does first; the stream must end
            with anyio.fail_after(5):
                await ended.wait()
    assert [r["seq"] for r in received] == [3, 4, 5]
    assert {r["glidein"] for r in received} == {"g1"}


async def test_slow_clients_do_not_stop_other_glideins(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        host, port = server.http.bound[0]
        token = server.token("slow")
        streams = []
        for _ in range(20):  # slowloris: send headers and a trickle of body, never finish
            stream = await anyio.connect_tcp(host, port)
            await stream.send(
                (
                    "POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Length: 100000\r\n\r\n"
                ).encode()
                + ndjson([1])[:10]
            )
            streams.append(stream)
        try:
            with anyio.fail_after(10):
                for i in range(10):
                    response = await post(
                        server, ndjson(range(i * 10, i * 10 + 10)), glidein="fast"
                    )
                    assert response.status_code == 200
        finally:
            for stream in streams:
                await stream.aclose()


async def test_openapi_documents_the_log_routes(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server, httpx.AsyncClient(base_url=server.url) as client:
        doc = (await client.get("/api/v1/openapi.json")).json()
    logs = doc["paths"]["/api/v1/logs"]
    assert set(logs) == {"get", "post"}
    assert {p["name"] for p in logs["get"]["parameters"]} >= {
        "glidein",
        "entry",
        "level",
        "event",
        "q",
        "since",
        "until",
        "limit",
        "cursor",
    }
    assert "application/x-ndjson" in logs["post"]["requestBody"]["content"]
    assert {"413", "415", "429", "503"} <= set(logs["post"]["responses"])
    assert "/api/v1/logs/stream" in doc["paths"]
    assert doc["paths"]["/api/v1/glideins"]["get"]["parameters"][1]["schema"]["maximum"] == 100000


async def test_full_text_stream_waits_for_the_index(tmp_path: Path) -> None:
    received: list[dict[str, object]] = []
    async with log_server(tmp_path) as server:

        async def listen() -> None:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                client.stream("GET", "/api/v1/logs/stream", params={"q": "needle"}) as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        received.append(orjson.loads(line[6:]))

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await anyio.sleep(0.5)
            for i in range(5):
                await post(server, ndjson([i], msg="hay needle" if i % 2 else "hay"), glidein="g")
            await eventually(lambda: len(received) >= 2)
            await server.logs.closer.stop()
    assert [r["seq"] for r in received] == [1, 3]
