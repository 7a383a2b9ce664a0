"""Holes in the log API found by an adversarial run (issue 14 §4)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from aglidein.services.glidein_logs import tail as logs_tail
from aglidein.services.glidein_logs.ingest import MAX_ERRORS_LISTED
from tests.services.glidein_logs.helpers import LogServer, eventually, log_server, ndjson


async def post(server: LogServer, body: bytes, glidein: str = "g1") -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            server.url + "/api/v1/logs", content=body, headers=server.headers(glidein)
        )


BAD_CURSORS = (
    "9223372036854775807.0",
    "8796093022208.0",  # 2**43: the full-text rowid (batch << 20) no longer fits
    "1.9223372036854775807",
    "1.2147483649",
)


async def test_bad_cursors_are_400_in_search_and_stream(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        assert (await post(server, ndjson(range(3), msg="x marks {seq}"))).status_code == 200
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for cursor in BAD_CURSORS:
                for q in (None, "x"):
                    params = {"cursor": cursor} | ({"q": q} if q else {})
                    search = await client.get("/api/v1/logs", params=params)
                    assert search.status_code == 400, (cursor, q, search.text)
                    assert "cursor" in search.json()["error"]
                    stream = await client.get("/api/v1/logs/stream", params=params)
                    assert stream.status_code == 400, (cursor, q)
                resumed = await client.get("/api/v1/logs/stream", headers={"Last-Event-ID": cursor})
                assert resumed.status_code == 400
            for cursor in ("9" * 5000, "9223372036854775808", "-1", "1.0"):
                listed = await client.get("/api/v1/glideins", params={"cursor": cursor})
                assert listed.status_code == 400, cursor
            # the largest valid cursor is an ordinary (empty) page
            edge = await client.get("/api/v1/logs", params={"q": "x", "cursor": "8796093022207.0"})
            assert edge.status_code == 200
            assert edge.json()["records"] == []


async def test_a_record_field_named_entry_never_overrides_the_token(tmp_path: Path) -> None:
    record = {
        "seq": 1,
        "ts": "2026-01-01T00:00:00Z",
        "level": "info",
        "event": "test.spoof",
        "msg": "hello",
        "entry": "SOMEONE_ELSE",
        "glidein": "another-glidein",
    }
    async with log_server(tmp_path) as server:
        assert (await post(server, orjson.dumps(record))).status_code == 200
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            found = (await client.get("/api/v1/logs", params={"entry": "E1"})).json()["records"]
            spoofed = (await client.get("/api/v1/logs", params={"entry": "SOMEONE_ELSE"})).json()
    assert len(found) == 1
    assert found[0]["entry"] == "E1"
    assert found[0]["glidein"] == "g1"
    assert found[0]["record_entry"] == "SOMEONE_ELSE"  # kept, under a name of its own
    assert spoofed["records"] == []


async def test_a_batch_over_the_burst_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = gzip.compress(b"{}\n" * 1_000_000, 9)
    assert len(bomb) < 10_000
    async with log_server(tmp_path) as server:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                server.url + "/api/v1/logs",
                content=bomb,
                headers={**server.headers("g1"), "Content-Encoding": "gzip"},
            )
        assert answer.status_code == 413
        assert "burst" in answer.json()["error"]
        assert len(answer.content) < 1000
        # a batch of exactly the burst is admitted
        small = "{rate_limit: {records_per_s: 5, burst: 10}}"
    (tmp_path / "small").mkdir()
    async with log_server(tmp_path / "small", logs=small) as server:
        assert (await post(server, ndjson(range(10)))).status_code == 200
        assert (await post(server, ndjson(range(10, 21)))).status_code == 413


async def test_the_error_list_of_a_400_is_capped(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        answer = await post(server, b"{}\n" * 5000 + ndjson([1]))
    assert answer.status_code == 400
    body = answer.json()
    assert body["accepted"] == 1
    assert len(body["errors"]) == MAX_ERRORS_LISTED
    assert body["errors_omitted"] == 5000 - MAX_ERRORS_LISTED
    assert len(answer.content) < 20_000


async def test_many_tails_each_receive_every_record_with_one_query_per_commit(
    tmp_path: Path,
) -> None:
    tails, batches, per_batch = 60, 20, 25
    received: list[list[int]] = [[] for _ in range(tails)]
    filtered: list[int] = []
    async with log_server(tmp_path) as server:
        await post(server, ndjson(range(5)), glidein="before")  # history is not replayed

        async def listen(index: int, params: dict[str, str], into: list[int]) -> None:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=60) as client,
                client.stream("GET", "/api/v1/logs/stream", params=params) as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        into.append(int(orjson.loads(line[6:])["seq"]))

        async with anyio.create_task_group() as tg:
            for i in range(tails):
                tg.start_soon(listen, i, {}, received[i])
            tg.start_soon(listen, -1, {"level": "error", "q": "odd"}, filtered)
            await eventually(lambda: server.logs.tails.following == tails + 1, 30)
            queries_before = server.logs.tails.queries
            for b in range(batches):
                seqs = range(b * per_batch, (b + 1) * per_batch)
                level = "error" if b % 2 else "info"
                await post(server, ndjson(seqs, level=level, msg="odd {seq}"), glidein="g")
            total = batches * per_batch
            await eventually(lambda: all(len(r) >= total for r in received), 60)
            await eventually(lambda: len(filtered) >= total // 2, 30)
            hub_queries = server.logs.tails.queries - queries_before
            await server.logs.closer.stop()
    for seqs in received:
        assert seqs == list(range(total))  # each tail: every record, in order, once
    assert filtered == [s for s in range(total) if (s // per_batch) % 2]
    # one query per commit (a few more when commits coalesce or a wake-up finds nothing),
    # not one per tail per commit
    assert hub_queries <= 3 * batches + 10


async def _follow(server: LogServer, into: list[int], **params: str) -> None:
    headers = {"Last-Event-ID": params.pop("last_event_id")} if "last_event_id" in params else {}
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=60) as client,
        client.stream("GET", "/api/v1/logs/stream", params=params, headers=headers) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                into.append(int(orjson.loads(line[6:])["seq"]))


async def test_a_tail_resumed_behind_catches_up_then_follows(tmp_path: Path) -> None:
    resumed: list[int] = []
    async with log_server(tmp_path) as server:
        await post(server, ndjson(range(10)))
        async with httpx.AsyncClient(base_url=server.url) as client:
            page = (await client.get("/api/v1/logs", params={"limit": 5})).json()
        async with anyio.create_task_group() as tg:
            cursor = page["next_cursor"]
            tg.start_soon(functools.partial(_follow, server, resumed, last_event_id=cursor))
            await eventually(lambda: len(resumed) >= 5)
            await post(server, ndjson(range(10, 20)))
            await eventually(lambda: len(resumed) >= 15)
            await server.logs.closer.stop()
    assert resumed == list(range(5, 20))


async def test_a_tail_that_overflows_catches_up_without_loss_or_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_tail, "TAIL_BUFFER", 3)
    got: list[int] = []
    async with log_server(tmp_path) as server, anyio.create_task_group() as tg:
        tg.start_soon(_follow, server, got)
        await eventually(lambda: server.logs.tails.following == 1)
        for b in range(10):
            await post(server, ndjson(range(b * 20, b * 20 + 20)))
        await eventually(lambda: len(got) >= 200, 30)
        await server.logs.closer.stop()
    assert got == list(range(200))
