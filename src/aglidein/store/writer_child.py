"""The log store's writer process (`ProcessLogStore`): the same `Writer` as in-process,
fed over a socket by the daemon, so that storing records never holds the daemon's GIL.

One thread reads, parses and stores: each turn takes every message the socket holds,
parses the bodies and commits their batches as one group, then answers. A reader
thread beside the writer's took turns with it on the GIL: each of the writer's SQLite
calls gave the GIL up and waited for the parse in hand to end, and each body waited for
the reader, which was never idle though neither thread used a core (a request spent 3 of
its 6.6 ms waiting to be read; bench/ingest/run.py).

    python -m aglidein.store.writer_child FD DB_PATH MAX_PAGE_COUNT

FD is this end of a socket pair. Messages are length-prefixed pickles (`send_frame`,
`read_frame`), from the daemon:

    ("settings", logs_config)                     first, and whenever it changes
    ("ingest", key, glidein, entry, batch)        a ParsedBatch to store
    ("lines", key, glidein, entry, body, max_fields, max_bytes)   NDJSON to parse, store
    ("maintain", token)                           run retention now
    ("stop",)                                     commit what is queued, close, exit

and to it: ("ready", state), ("settled", results, committed, usage, state, posted,
ended), ("state", state), ("maintained", tokens, state, removed), ("log",
event_dict), ("failed", error) and ("closed",); `state` is `StateTuple`. The end of the
socket (the daemon gone) is a stop. SIGINT, SIGTERM and SIGHUP are the daemon's to
handle: this process ends when the daemon says so, after its last commit.
"""

from __future__ import annotations

import contextlib
import pickle
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from aglidein.config import LogsConfig
from aglidein.core.records import parse_batch
from aglidein.errors import StoreError, StoreFull
from aglidein.gctune import tune_gc
from aglidein.store.api import GlideinUsage, IngestResult
from aglidein.store.sqlite import SqliteLogStore
from aglidein.store.writer import MAX_GROUP_RECORDS, Job, Writer

__all__ = [
    "RECEIVE_BYTES",
    "StateTuple",
    "encode_frame",
    "frames_in",
    "main",
    "read_frame",
    "send_frame",
]

_LENGTH = struct.Struct("!I")
STATE_EVERY_S = 0.25  # the daemon's view of index lag and size is this fresh
RECEIVE_BYTES = 1 << 20
# size_bytes, index_lag_s, last_error, last_committed, fts_indexed
StateTuple = tuple[int, float, str | None, int, int]


def encode_frame(message: object) -> bytes:
    """One message as sent: its length, then its pickle."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def send_frame(sock: socket.socket, message: object) -> None:
    """Send one message (blocking)."""
    sock.sendall(encode_frame(message))


def read_frame(stream: BinaryIO) -> Any:
    """The next message; EOFError at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return pickle.loads(payload)


def frames_in(buffer: bytearray) -> list[Any]:
    """Every whole message at the start of `buffer`, taken out of it."""
    out: list[Any] = []
    start = 0
    while len(buffer) - start >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer, start)
        end = start + _LENGTH.size + size
        if len(buffer) < end:
            break
        out.append(pickle.loads(memoryview(buffer)[start + _LENGTH.size : end]))
        start = end
    del buffer[:start]
    return out


class _Child:
    """The writer process: the main thread serving messages and storing them, and a
    thread reporting index lag and size as they change."""

    def __init__(self, sock: socket.socket, path: Path, max_page_count: int | None) -> None:
        self.sock = sock
        self.inbox = bytearray()
        self.send_lock = threading.Lock()
        self.settings = LogsConfig()
        self.store = SqliteLogStore(
            path, lambda: self.settings, now=time.time, max_page_count=max_page_count
        )
        self.tokens: list[int] = []
        self.posted: set[str] = set()
        self.ended: set[str] = set()
        self.done = threading.Event()

    def send(self, message: object) -> None:
        with self.send_lock, contextlib.suppress(OSError):
            send_frame(self.sock, message)

    def _apply(self, message: tuple[Any, ...]) -> None:
        self.settings = message[1]

    def run(self) -> int:
        """Open the store, serve until told to stop (or the daemon is gone), close."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        first: list[Any] = []
        while not first:
            poller.poll()
            if self._receive():
                return 0  # the daemon went away before the store opened
            first = frames_in(self.inbox)
        self._apply(first[0])
        try:
            writer = self.store.open_writer()
        except StoreError as exc:
            self.send(("failed", str(exc)))
            return 1
        self.posted = set(writer.glideins)
        self.ended = {name for name, g in writer.glideins.items() if g.ended}
        writer.notify = self._settled(writer)
        maintain = writer.maintenance
        writer.maintenance = lambda w: self._maintain(w, maintain)
        tune_gc()  # what opening loaded (every glidein's seqs) is never scanned again
        self.send(("ready", (_state(writer), sorted(self.posted), sorted(self.ended))))
        threading.Thread(target=self._report, args=(writer,), name="writer-state").start()
        try:
            self._serve(writer, poller, first[1:])
        finally:
            self.done.set()
            self.store.close()
            self.send(("closed",))
        return 0

    def _serve(self, writer: Writer, poller: select.poll, messages: list[Any]) -> None:
        """Turn after turn: wait for messages (no longer than the writer's next index step
        or maintenance allows), store the batches of all that came as one group; until
        told to stop or the daemon is gone, then index what is left."""
        end = False
        while True:
            group: list[Job] = []
            for message in messages:
                end = self._handle(writer, message, group) or end
            for part in _parts(group):
                writer.cycle(part, idle=False)
            if not group:  # idle unless part of a message came
                writer.cycle([], idle=not self.inbox)
            if end:
                break
            if poller.poll(int(writer.wait_s() * 1000)):
                end = self._receive()
            messages = frames_in(self.inbox)
        writer.indexer.drain()

    def _receive(self) -> bool:
        """Add what the socket holds to the inbox, without waiting; True at its end."""
        while True:
            try:
                data = self.sock.recv(RECEIVE_BYTES, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not data:
                return True
            self.inbox += data
            if len(data) < RECEIVE_BYTES:
                return False

    def _handle(self, writer: Writer, message: tuple[Any, ...], group: list[Job]) -> bool:
        """Act on one message from the daemon (batches join `group`); True for "stop"."""
        kind: str = message[0]
        if kind == "lines":
            _, key, glidein, entry, body, max_fields, max_bytes = message
            batch = parse_batch(body, max_fields=max_fields, max_bytes=max_bytes)
            self._store(writer, Job(glidein, entry, batch, key=key), group)
        elif kind == "ingest":
            _, key, glidein, entry, batch = message
            self._store(writer, Job(glidein, entry, batch, key=key), group)
        elif kind == "settings":
            self._apply(message)
        elif kind == "maintain":
            self.tokens.append(message[1])
            writer.maintain_now.set()
        return kind == "stop"

    def _store(self, writer: Writer, job: Job, group: list[Job]) -> None:
        """Add the job to the group; one without a valid record is answered now (a
        glidein that never sent one has not posted)."""
        if job.batch.seqs:
            group.append(job)
            return
        job.result = IngestResult(0, 0)
        self.send(("settled", [_result(job)], False, [], _state(writer), [], []))

    def _report(self, writer: Writer) -> None:
        last = _state(writer)
        while not self.done.wait(STATE_EVERY_S):
            state = _state(writer)
            if state != last:
                last = state
                self.send(("state", state))

    def _settled(self, writer: Writer) -> Callable[[list[Job], bool, list[GlideinUsage]], None]:
        def settled(jobs: list[Job], committed: bool, usage: list[GlideinUsage]) -> None:
            results = [_result(job) for job in jobs]
            posted, ended = [], []
            for name in {job.glidein for job in jobs}:
                state = writer.glideins.get(name)
                if state is None:
                    continue
                if name not in self.posted:
                    self.posted.add(name)
                    posted.append(name)
                if state.ended and name not in self.ended:
                    self.ended.add(name)
                    ended.append(name)
            self.send(("settled", results, committed, usage, _state(writer), posted, ended))

        return settled

    def _maintain(self, writer: Writer, maintain: Callable[[Writer], None]) -> None:
        tokens, self.tokens = self.tokens, []
        try:
            maintain(writer)
        finally:
            removed = self.posted - set(writer.glideins)
            self.posted -= removed
            self.ended -= removed
            self.send(("maintained", tokens, _state(writer), sorted(removed)))


def _parts(group: list[Job]) -> list[list[Job]]:
    """The group in transactions of about MAX_GROUP_RECORDS records at most."""
    parts: list[list[Job]] = []
    records = MAX_GROUP_RECORDS
    for job in group:
        if records >= MAX_GROUP_RECORDS:
            parts.append([])
            records = 0
        parts[-1].append(job)
        records += len(job.batch)
    return parts


def _state(writer: Writer) -> StateTuple:
    return (
        writer.size_bytes,
        writer.index_lag_s,
        writer.last_error,
        writer.last_committed,
        writer.fts_indexed,
    )


def _result(job: Job) -> tuple[int, int, int, str | None, str, list[tuple[int, str]]]:
    """(key, accepted, duplicates, error kind, error, refused lines) of a settled job."""
    result = job.result
    if isinstance(result, IngestResult):
        refused = [(e.line, e.error) for e in job.batch.errors]
        return job.key, result.accepted, result.duplicates, None, "", refused
    kind = "full" if isinstance(result, StoreFull) else "error"
    return job.key, 0, 0, kind, str(result or "log store lost a batch"), []


def _forward_logs(child: _Child) -> None:
    """structlog events go to the daemon, which logs them as its own."""

    def forward(_: Any, method: str, event_dict: Any) -> Any:
        child.send(("log", method, dict(event_dict)))
        raise structlog.DropEvent

    structlog.configure(
        processors=[structlog.processors.format_exc_info, forward],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def main(argv: list[str] | None = None) -> int:
    """`writer_child FD DB_PATH MAX_PAGE_COUNT` (0: no page limit)."""
    fd, path, pages = (argv if argv is not None else sys.argv[1:])[:3]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    sock = socket.socket(fileno=int(fd))
    child = _Child(sock, Path(path), int(pages) or None)
    _forward_logs(child)
    try:
        return child.run()
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
