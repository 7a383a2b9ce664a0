"""Live tails (`GET /api/v1/logs/stream`): one store query per commit, fanned out.

A tail that searched the store after every commit made N tails cost N queries per
commit, and with 200 tails each saw a quarter of the records. Here one `TailHub` reads
what each commit added, once, and hands every record to the tails whose filters it
passes. A tail that starts behind (a `cursor` or `Last-Event-ID`) or falls behind (its
buffer overflowed) catches up with its own searches, then rejoins the hub; records are
never sent twice or skipped, because each tail keeps its own cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import anyio.abc
import orjson
import structlog

from aglidein.errors import StoreError
from aglidein.store.api import Cursor, LogQuery, LogStore
from aglidein.store.query import query_terms, record_matches

__all__ = ["TailHub"]

log = structlog.get_logger()

HUB_PAGE = 2000  # records read per hub query
TAIL_BUFFER = 2_000  # records a tail may hold unsent before it falls back to catching up
KEEPALIVE_S = 15.0
POLL_S = 0.5
CATCH_UP_PAGE = 500


@dataclass(eq=False)
class _Tail:
    """One subscriber: its filters, its position, and records waiting to be sent."""

    query: LogQuery
    terms: list[str]
    cursor: Cursor
    joined_at: Cursor
    pending: list[tuple[Cursor, bytes]] = field(default_factory=list)
    overflowed: bool = False
    wake: anyio.Event = field(default_factory=anyio.Event)

    def wants(self, record: dict[str, Any]) -> bool:
        """The record passes this tail's filters (and the tail is not catching up)."""
        return not self.overflowed and record_matches(self.query, record, self.terms)

    def push(self, position: Cursor, event: bytes) -> None:
        """Queue one encoded SSE event."""
        if len(self.pending) >= TAIL_BUFFER:
            self.overflowed = True  # it will catch up from its cursor with searches
            self.pending.clear()
        else:
            self.pending.append((position, event))
        self.wake.set()


class TailHub:
    """Reads new records once per commit and fans them out to every live tail."""

    def __init__(self, store: LogStore, stopping: anyio.Event) -> None:
        self._store = store
        self._stopping = stopping
        self._tails: set[_Tail] = set()
        self._position: Cursor | None = None  # everything up to here was fanned out
        self._joined = anyio.Event()
        self.queries = 0  # hub searches made (a figure for tests and benchmarks)

    @property
    def following(self) -> int:
        """Live tails now."""
        return len(self._tails)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Fan out until stopped."""
        task_status.started()
        while not self._stopping.is_set():
            if not self._tails:
                self._position = None
                self._joined = anyio.Event()
                with anyio.move_on_after(POLL_S):
                    await self._joined.wait()
                continue
            changed = self._store.changes()
            more = await self._fan_out()
            if more:
                continue
            with anyio.move_on_after(POLL_S):
                await changed.wait()
        for tail in self._tails:
            tail.wake.set()

    async def _fan_out(self) -> bool:
        """One query from the hub's position; True when more records are waiting."""
        try:
            if self._position is None:
                self._position = await self._end()
            self.queries += 1
            page = await self._store.search(LogQuery(cursor=self._position, limit=HUB_PAGE))
        except StoreError as exc:
            log.warning("logs.tail_query_failed", error=str(exc))
            return False
        except Exception as exc:  # a bad record must not end every tail, nor the daemon
            log.error("logs.tail_query_failed", error=repr(exc))
            return False
        tails = list(self._tails)
        for position, record in zip(page.cursors, page.records, strict=True):
            event: bytes | None = None
            for tail in tails:
                if tail.wants(record):
                    event = event or _event(position, record)  # encoded once for all
                    tail.push(position, event)
        if page.next_cursor is not None:
            self._position = page.cursors[-1]
            return True
        self._position = max(self._position, page.end_cursor)
        return False

    async def _end(self) -> Cursor:
        return (await self._store.search(LogQuery(limit=1, descending=True))).end_cursor

    async def _join(self, query: LogQuery) -> _Tail:
        start = query.cursor if query.cursor is not None else await self._end()
        if self._position is None:
            self._position = await self._end()
        tail = _Tail(
            query=replace(query, cursor=None, limit=CATCH_UP_PAGE),
            terms=query_terms(query.q) if query.q else [],
            cursor=start,
            joined_at=self._position,
        )
        self._tails.add(tail)
        self._joined.set()
        return tail

    async def events(self, query: LogQuery) -> AsyncIterator[bytes]:
        """The SSE body of one tail: `id`, `event: record`, `data` per record."""
        tail = await self._join(query)
        try:
            yield b": aglidein log stream\nretry: 2000\n\n"
            quiet = 0.0
            caught_up = False
            while not self._stopping.is_set():
                if tail.overflowed:  # fell behind: search from its cursor again
                    tail.overflowed = False
                    tail.joined_at = self._position or tail.cursor
                    caught_up = False
                if not caught_up:
                    chunk, caught_up = await self._catch_up(tail)
                else:
                    chunk = self._drain(tail)
                if chunk:
                    quiet = 0.0
                    yield chunk
                    continue
                tail.wake = anyio.Event()
                if tail.pending or tail.overflowed:
                    continue
                with anyio.move_on_after(POLL_S):
                    await tail.wake.wait()
                quiet += POLL_S
                if quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield b": keepalive\n\n"
        finally:
            self._tails.discard(tail)

    async def _catch_up(self, tail: _Tail) -> tuple[bytes, bool]:
        """One page of the tail's own search; True once it reached where the hub took
        over (records after that come from the hub)."""
        try:
            page = await self._store.search(replace(tail.query, cursor=tail.cursor))
        except StoreError:
            return b"", False
        out = bytearray()
        for position, record in zip(page.cursors, page.records, strict=True):
            out += _event(position, record)
            tail.cursor = position
        if page.next_cursor is not None:
            return bytes(out), False
        tail.cursor = max(tail.cursor, page.end_cursor)
        # With full text the page ends where the index ends; the hub already sends
        # what came after the tail joined, so catching up is done once past that.
        done = tail.cursor >= tail.joined_at
        if done:
            tail.joined_at = tail.cursor
        return bytes(out), done

    @staticmethod
    def _drain(tail: _Tail) -> bytes:
        out = bytearray()
        pending, tail.pending = tail.pending, []
        for position, event in pending:
            if position > tail.cursor:
                out += event
                tail.cursor = position
        return bytes(out)


def _event(position: Cursor, record: dict[str, Any]) -> bytes:
    return (
        b"id: "
        + position.encode().encode()
        + b"\nevent: record\ndata: "
        + orjson.dumps(record)
        + b"\n\n"
    )
