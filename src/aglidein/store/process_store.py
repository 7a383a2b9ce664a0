"""The SQLite log store with its writer in a process of its own (`writer_child`).

In-process, the writer thread and the event loop took turns on one GIL: under load
each commit waited for the loop to let go (HTTP, parsing) and every request waited
for the commit, so neither core was busy (bench/ingest/run.py). Here the daemon
authenticates and sends each NDJSON body (or a parsed batch) over a socket pair; the
child parses it and stores it with the very `Writer` of the in-process store (group
commit, deduplication, compression, full-text indexing, retention) and answers per
request once committed, with the refused lines.
Reads stay in the daemon on their own connections (WAL: they never wait for the
writer); what the daemon reads without blocking (stats, posted and ended glideins, the
newest batch) is a copy the child keeps up to date with every answer.

The child ends when told (after committing what it was sent) or when the daemon is
gone; the daemon's signals are not its own. A child that cannot open the store ends
`run` with its StoreError; one that dies later fails every waiting request (503,
Retry-After) and is started again.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import structlog

from aglidein.config import LogsConfig
from aglidein.core.records import LineError, ParsedBatch
from aglidein.errors import StoreError, StoreFull
from aglidein.store.api import GlideinUsage, IngestResult, StoreStats
from aglidein.store.framepipe import FramePipe
from aglidein.store.sqlite import SqliteLogStore
from aglidein.store.writer_child import StateTuple

__all__ = ["ProcessLogStore"]

log = structlog.get_logger()

OPEN_TIMEOUT_S = 300.0  # opening migrates the schema and loads every glidein's seqs
CLOSE_TIMEOUT_S = 120.0  # the child commits what it was sent, then drains its index
MAINTAIN_TIMEOUT_S = 120.0
SETTINGS_EVERY_S = 1.0
RESTART_DELAY_S = 1.0
_NOT_OPEN: StateTuple = (0, 0.0, "log store is not open", 0, 0)


class ProcessLogStore(SqliteLogStore):
    """A `LogStore` and a daemon Service, its writer in a child process."""

    def __init__(
        self,
        path: Path,
        settings: Callable[[], LogsConfig],
        *,
        max_page_count: int | None = None,
        on_usage: Callable[[list[GlideinUsage]], None] | None = None,
    ) -> None:
        super().__init__(path, settings, max_page_count=max_page_count, on_usage=on_usage)
        self._pipe: FramePipe | None = None
        self._waiting: dict[int, tuple[anyio.Event, list[Any]]] = {}
        self._next_key = 0
        self._state = _NOT_OPEN
        self._posted: set[str] = set()
        self._ended: set[str] = set()
        self._sent_settings: LogsConfig | None = None
        self._opened = anyio.Event()
        self._failed: str | None = None  # why the writer process could not open the store
        self._died: str | None = None  # why the writer process ended unasked
        self._child_closed = anyio.Event()
        self._serving: anyio.CancelScope | None = None  # while a writer process serves
        self._maintained: dict[int, anyio.Event] = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the writer process and serve until `stop()`, then let it commit and end.

        A writer process that cannot open the store ends `run` with its StoreError; one
        that dies later is started again after RESTART_DELAY_S (meanwhile requests get
        503 and Retry-After, and /readyz says why)."""
        opened = False

        def started() -> None:
            nonlocal opened
            if not opened:
                opened = True
                task_status.started()

        try:
            while True:
                died = await self._serve_child(started)
                if died is None:
                    return
                with anyio.move_on_after(RESTART_DELAY_S):
                    await self._stop.wait()
                if self._stop.is_set():
                    return
                log.info("logs.writer_process_restarting", after=died)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.close)

    async def _serve_child(self, started: Callable[[], None]) -> str | None:
        """One writer process from start to end: None once stopped as asked, why it
        died otherwise; StoreError when it could not open the store."""
        self._opened, self._child_closed = anyio.Event(), anyio.Event()
        self._failed = self._died = None
        self._sent_settings = None
        process, self._pipe = await _start_child(self.path, self._max_page_count)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._receive, process)
                tg.start_soon(self._pipe.flush)
                self._send_settings()
                with anyio.fail_after(OPEN_TIMEOUT_S):
                    await self._opened.wait()
                if self._failed is None:
                    self._closed = False
                    tg.start_soon(self._watch_settings)
                    started()
                    with anyio.CancelScope() as self._serving:
                        await self._stop.wait()
                    if self._died is None:
                        await self._close_child()
                tg.cancel_scope.cancel()
        finally:
            self._closed = True
            self._fail_waiting(StoreError(self._died or "log store is closing"))
            with anyio.CancelScope(shield=True):
                await self._end(process)
        if self._failed is not None:
            raise StoreError(self._failed)
        return self._died

    async def _close_child(self) -> None:
        """Tell the child to stop and wait until it committed and closed."""
        self._closed = True
        with contextlib.suppress(OSError, anyio.ClosedResourceError):
            self._send(("stop",))
        with anyio.move_on_after(CLOSE_TIMEOUT_S):
            await self._child_closed.wait()

    async def _end(self, process: anyio.abc.Process) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            log.error("logs.writer_process_killed", pid=process.pid)
            process.kill()
            await process.wait()
        await process.aclose()

    def close(self) -> None:
        """Close the read connections (the child closes the writing one)."""
        self._close_readers()

    # --- messages ------------------------------------------------------------------------

    def _send(self, message: object) -> None:
        """Send at once, without yielding to the event loop (`FramePipe`)."""
        pipe = self._pipe
        if pipe is None:
            raise StoreError("log store is not open")
        pipe.send(message)

    def _send_settings(self) -> None:
        settings = self._settings()
        if settings is not self._sent_settings:
            self._sent_settings = settings
            self._send(("settings", settings))

    async def _watch_settings(self) -> None:
        """A reloaded configuration reaches the child (fsync, retention, size)."""
        while True:
            await anyio.sleep(SETTINGS_EVERY_S)
            self._send_settings()

    async def _receive(self, process: anyio.abc.Process) -> None:
        pipe = self._pipe
        assert pipe is not None
        try:
            while True:
                for message in await pipe.receive():
                    self._dispatch(message)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        if self._child_closed.is_set() or self._stop.is_set():
            self._child_closed.set()
            return
        code = await process.wait()
        error = f"log store writer process exited (code {code})"
        log.error("logs.writer_process_exited", code=code)
        self._state = (*self._state[:2], error, *self._state[3:])
        self._closed = True
        self._fail_waiting(StoreError(error))
        if self._opened.is_set():
            self._died = error
            if self._serving is not None:
                self._serving.cancel()
        else:
            self._failed = error
            self._opened.set()

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "settled":
            _, results, committed, usage, state, posted, ended = message
            self._state = state
            self._posted.update(posted)
            self._ended.update(ended)
            for key, *outcome in results:
                waiting = self._waiting.pop(key, None)
                if waiting is not None:
                    event, holder = waiting
                    holder.append(_outcome(*outcome))
                    event.set()
            self._committed(committed, usage)
        elif kind == "state":
            self._state = message[1]
        elif kind == "maintained":
            _, tokens, state, removed = message
            self._state = state
            self._posted.difference_update(removed)
            self._ended.difference_update(removed)
            for token in tokens:
                done = self._maintained.pop(token, None)
                if done is not None:
                    done.set()
        elif kind == "log":
            _, method, event = message
            getattr(log, method, log.info)(event.pop("event", "logs.writer_event"), **event)
        elif kind == "ready":
            state, posted, ended = message[1]
            self._state, self._posted, self._ended = state, set(posted), set(ended)
            self._opened.set()
        elif kind == "failed":
            self._failed = message[1]
            self._opened.set()
        elif kind == "closed":
            self._child_closed.set()

    def _fail_waiting(self, error: StoreError) -> None:
        waiting, self._waiting = self._waiting, {}
        for event, holder in waiting.values():
            holder.append(error)
            event.set()
        maintained, self._maintained = self._maintained, {}
        for done in maintained.values():
            done.set()

    # --- LogStore ------------------------------------------------------------------------

    async def ingest(self, glidein: str, entry: str, batch: ParsedBatch) -> IngestResult:
        """Send the batch to the writer process; return after it committed."""
        if not batch.seqs:
            return IngestResult(0, 0)
        result, _ = await self._request(lambda key: ("ingest", key, glidein, entry, batch))
        return result

    async def ingest_lines(
        self, glidein: str, entry: str, body: bytes, *, max_fields: int, max_bytes: int
    ) -> tuple[IngestResult, list[LineError]]:
        """Send the NDJSON body to the writer process, which parses it
        (`records.parse_batch`) and stores the valid records; return after it committed."""
        return await self._request(
            lambda key: ("lines", key, glidein, entry, body, max_fields, max_bytes)
        )

    async def _request(
        self, message: Callable[[int], tuple[object, ...]]
    ) -> tuple[IngestResult, list[LineError]]:
        if self._closed or self._pipe is None:
            raise StoreError(self._failed or "log store is not open")
        key = self._next_key = self._next_key + 1
        done = anyio.Event()
        holder: list[Any] = []
        self._waiting[key] = (done, holder)
        try:
            self._send(message(key))
            await done.wait()
        except (OSError, anyio.ClosedResourceError) as exc:
            raise StoreError(f"log store writer process unreachable: {exc}") from None
        finally:
            self._waiting.pop(key, None)
        outcome = holder[0]
        if isinstance(outcome, BaseException):
            raise outcome
        result: tuple[IngestResult, list[LineError]] = outcome
        return result

    async def maintain(self) -> None:
        """Run retention now in the writer process and wait for it."""
        if self._closed:
            raise StoreError(self._failed or "log store is not open")
        key = self._next_key = self._next_key + 1
        done = self._maintained[key] = anyio.Event()
        try:
            self._send_settings()
            self._send(("maintain", key))
        except (OSError, anyio.ClosedResourceError) as exc:
            self._maintained.pop(key, None)
            raise StoreError(f"log store writer process unreachable: {exc}") from None
        with anyio.move_on_after(MAINTAIN_TIMEOUT_S):
            await done.wait()
        if not done.is_set() or self._closed:
            self._maintained.pop(key, None)
            raise StoreError("log store maintenance did not finish")

    def stats(self) -> StoreStats:
        """Size, index lag and write health as the writer process last told."""
        size, lag, error, _, _ = self._state
        return StoreStats(size, lag, error is None and not self._closed, error)

    def posted_glideins(self) -> set[str]:
        """Ids of every glidein that has posted records (the child's last word)."""
        return set(self._posted)

    def ended_glideins(self, names: list[str]) -> set[str]:
        """Which of these glideins posted their end (glidein.end)."""
        return {name for name in names if name in self._ended}

    @property
    def last_batch(self) -> int:
        """The id of the newest committed batch (0 when empty)."""
        return self._state[3]

    @property
    def fts_indexed(self) -> int:
        """The newest batch in the full-text index."""
        return self._state[4]


def _outcome(
    accepted: int, duplicates: int, kind: str | None, error: str, refused: list[tuple[int, str]]
) -> object:
    if kind is None:
        lines = [LineError(line, why) for line, why in refused]
        return IngestResult(accepted=accepted, duplicates=duplicates), lines
    return StoreFull(error) if kind == "full" else StoreError(error)


async def _start_child(
    path: Path, max_page_count: int | None
) -> tuple[anyio.abc.Process, FramePipe]:
    """`python -m aglidein.store.writer_child` with its end of a socket pair."""
    ours, theirs = socket.socketpair()
    try:
        process = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "aglidein.store.writer_child",
                str(theirs.fileno()),
                str(path),
                str(max_page_count or 0),
            ],
            stdin=subprocess.DEVNULL,
            stdout=None,
            stderr=None,
            pass_fds=(theirs.fileno(),),
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, FramePipe(ours)
