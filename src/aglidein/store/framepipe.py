"""The daemon's end of the socket pair to the log writer process, as frames
(`writer_child.encode_frame`): sending never waits and never yields to the event loop.

anyio's socket stream checkpoints on every send, and a lock kept the frames whole: under
load each request's frame waited a turn of the loop (every other request's work) for the
lock and another for the checkpoint, about 2 ms in all (bench/ingest/run.py) before
the writer process saw it. Here a frame goes out with one non-blocking `send` from the
request's own task; what the socket does not take at once waits, in order, in an outbox
that a task of its own writes when the socket is writable again. The outbox holds at
most the bodies of the requests in flight, which their handlers hold anyway.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio

from aglidein.store.writer_child import RECEIVE_BYTES, encode_frame, frames_in

__all__ = ["FramePipe"]


class FramePipe:
    """Frames to and from the writer process over one non-blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._outbox = bytearray()
        self._inbox = bytearray()
        self._queued = anyio.Event()
        self._error: OSError | None = None
        self._closed = False

    def send(self, message: object) -> None:
        """Send a message now, or queue it behind the ones the socket has not taken
        yet; OSError when the writer process is gone."""
        if self._closed:
            raise anyio.ClosedResourceError
        if self._error is not None:
            raise self._error
        frame: bytes | memoryview = encode_frame(message)
        if not self._outbox:
            sent = self._send_some(frame)
            if sent == len(frame):
                return
            frame = memoryview(frame)[sent:]
        self._outbox += frame
        self._queued.set()

    def _send_some(self, data: bytes | memoryview | bytearray) -> int:
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._error = exc
            raise

    async def flush(self) -> None:
        """Write queued frames whenever the socket can take them (a task of its own,
        until cancelled or the socket fails)."""
        while True:
            await self._queued.wait()
            self._queued = anyio.Event()
            while self._outbox:
                await anyio.wait_writable(self._sock)
                try:
                    sent = self._send_some(self._outbox)
                except OSError:
                    return  # the writer process is gone: receive() sees the end
                del self._outbox[:sent]

    async def receive(self) -> list[Any]:
        """The next whole messages; anyio.EndOfStream once the other end closed."""
        while True:
            messages = frames_in(self._inbox)
            if messages:
                return messages
            await anyio.wait_readable(self._sock)
            try:
                data = self._sock.recv(RECEIVE_BYTES)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            self._inbox += data

    def close(self) -> None:
        """Close the socket (on the event loop): tasks waiting on it get
        ClosedResourceError; queued frames are dropped (the process is ending)."""
        if not self._closed:
            self._closed = True
            self._outbox.clear()
            anyio.notify_closing(self._sock)
            self._sock.close()
