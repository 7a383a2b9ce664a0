"""aglidein.services.glidein_logs.tail: TailHub fans each commit out to every live tail, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import pytest

from aglidein.services.glidein_logs import tail as tail_module
from aglidein.services.glidein_logs.tail import TailHub
from aglidein.store.api import Cursor, LogPage, LogQuery
from aglidein.store.query import query_terms, record_matches


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub and tails notice `stopping` within a poll: keep the polls short."""
    monkeypatch.setattr(tail_module, "POLL_S", 0.02)


class MemoryStore:
    """The part of a LogStore a tail uses: search in arrival order, and `changes()`."""

    def __init__(self) -> None:
        self.rows: list[tuple[Cursor, dict[str, Any]]] = []
        self._changed = anyio.Event()
        self.searches = 0
        self.batches = 0

    def changes(self) -> anyio.Event:
        return self._changed

    def add(self, *records: dict[str, Any]) -> None:
        self.batches += 1
        for line, record in enumerate(records):
            self.rows.append((Cursor(self.batches, line), record))
        self._changed.set()
        self._changed = anyio.Event()

    async def search(self, query: LogQuery) -> LogPage:
        self.searches += 1
        end = self.rows[-1][0] if self.rows else Cursor(0, 0)
        if query.descending:
            return LogPage([], [], None, end, 0.0)
        terms = query_terms(query.q) if query.q else []
        found = [
            (c, r)
            for c, r in self.rows
            if (query.cursor is None or c > query.cursor) and record_matches(query, r, terms)
        ]
        page = found[: query.limit]
        more = len(found) > query.limit
        return LogPage(
            [r for _, r in page],
            [c for c, _ in page],
            page[-1][0] if more else None,
            end,
            0.0,
        )


def record(n: int, entry: str = "A", level: str = "info") -> dict[str, Any]:
    return {"glidein": f"g{n}", "entry": entry, "level": level, "event": "e", "msg": f"m{n}"}


async def take(events: AsyncIterator[bytes], count: int) -> list[tuple[str, int]]:
    """The next `count` records of a tail as (id, n), skipping comments."""
    out: list[tuple[str, int]] = []
    with anyio.fail_after(2):
        while len(out) < count:
            chunk = await events.__anext__()
            for block in chunk.decode().split("\n\n"):
                lines = dict(
                    line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
                )
                if "data" in lines:
                    assert lines["event"] == "record"
                    data = orjson.loads(lines["data"])
                    out.append((lines["id"], int(data["glidein"][1:])))
    return out


async def test_tails_get_new_records_that_pass_their_filters() -> None:
    store = MemoryStore()
    store.add(record(0))  # before anyone follows: not sent
    stopping = anyio.Event()
    hub = TailHub(store, stopping)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(hub.run)
        by_entry = hub.events(LogQuery(entry="A"))
        errors = hub.events(LogQuery(levels=frozenset({"error"})))
        assert (await by_entry.__anext__()).startswith(b": aglidein log stream\nretry:")
        await errors.__anext__()
        assert hub.following == 2
        store.add(record(1, "A"), record(2, "B", "error"), record(3, "A", "error"))
        store.add(record(4, "B"))
        assert [n for _, n in await take(by_entry, 2)] == [1, 3]
        assert await take(errors, 2) == [("2.1", 2), ("2.2", 3)]
        searches = store.searches
        store.add(*(record(n, "A") for n in range(5, 25)))
        assert [n for _, n in await take(by_entry, 20)] == list(range(5, 25))
        # one commit is read once for every tail, not once per tail
        assert store.searches - searches <= 3
        await by_entry.aclose()
        await errors.aclose()
        assert hub.following == 0
        stopping.set()


async def test_a_tail_from_a_cursor_catches_up_then_follows_without_gaps() -> None:
    store = MemoryStore()
    store.add(*(record(n) for n in range(10)))
    stopping = anyio.Event()
    hub = TailHub(store, stopping)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(hub.run)
        events = hub.events(LogQuery(cursor=Cursor(1, 3)))
        await events.__anext__()
        assert [n for _, n in await take(events, 6)] == [4, 5, 6, 7, 8, 9]
        store.add(record(10), record(11))
        assert await take(events, 2) == [("2.0", 10), ("2.1", 11)]
        await events.aclose()
        stopping.set()


async def test_a_tail_that_overflows_catches_up_with_searches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tail_module, "TAIL_BUFFER", 3)
    monkeypatch.setattr(tail_module, "CATCH_UP_PAGE", 4)
    store = MemoryStore()
    stopping = anyio.Event()
    hub = TailHub(store, stopping)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(hub.run)
        events = hub.events(LogQuery())
        await events.__anext__()
        # the hub fans out while this tail does not read: its buffer overflows
        for n in range(30):
            store.add(record(n))
        with anyio.fail_after(2):
            await anyio.wait_all_tasks_blocked()
        assert [t.overflowed for t in hub._tails] == [True]
        got = await take(events, 30)
        assert [n for _, n in got] == list(range(30))  # each once, in order
        store.add(record(30))
        assert [n for _, n in await take(events, 1)] == [30]
        await events.aclose()
        stopping.set()


async def test_stopping_ends_the_tails() -> None:
    store = MemoryStore()
    stopping = anyio.Event()
    hub = TailHub(store, stopping)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(hub.run)
        events = hub.events(LogQuery())
        await events.__anext__()
        stopping.set()
        with anyio.fail_after(2):
            rest = [chunk async for chunk in events]
        assert all(b"event: record" not in chunk for chunk in rest)
        assert hub.following == 0
