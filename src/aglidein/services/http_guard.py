"""Connection limits for the HTTP server: stalled clients cannot hold file descriptors.

uvicorn closes a connection only after a response (its keep-alive timer): a client that
connects and sends nothing, dribbles its headers (slowloris) or sends a body shorter
than its Content-Length would stay forever. `GuardedHttpProtocol` adds a deadline for
complete request headers, an idle deadline while a body is read, a deadline for a client
that stops reading its response (a stalled live tail), and a hard cap on open
connections; uvicorn's `limit_concurrency` answers 503 a little before the cap.
"""

from __future__ import annotations

import asyncio
import resource

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GuardedHttpProtocol", "connection_cap"]

log = structlog.get_logger()

HEADER_TIMEOUT_S = 20.0  # from connect (or the end of the last response) to full headers
BODY_IDLE_TIMEOUT_S = 30.0  # longest pause between two pieces of a request body
WRITE_STALL_TIMEOUT_S = 60.0  # a client that reads nothing of its response this long
MAX_CONNECTIONS = 4096
MAX_HEADER_BYTES = 64 * 1024  # request line and headers (h11's own limit is 16 KiB)
_RESERVED_FDS = 256  # the stores, the state DB, condor workers, logs


def connection_cap() -> int:
    """Open connections allowed: MAX_CONNECTIONS, lower when the fd limit is lower."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, int(soft) - _RESERVED_FDS))


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines and a connection cap."""

    header_timeout_s = HEADER_TIMEOUT_S
    body_idle_timeout_s = BODY_IDLE_TIMEOUT_S
    write_stall_timeout_s = WRITE_STALL_TIMEOUT_S
    max_connections = MAX_CONNECTIONS
    max_header_bytes = MAX_HEADER_BYTES

    _deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0
    _write_stall: asyncio.TimerHandle | None = None
    _waiting: str | None = None  # "headers" or "body" while the client owes us bytes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept, or close at once when over the cap; start the header deadline."""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning("http.connection_refused", reason="too_many_connections")
            transport.close()
            return
        self._expect("headers", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadlines."""
        self._expect(None, 0.0)
        self._writable()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The client stopped reading (a stalled live tail): it has a while to resume."""
        super().pause_writing()
        if self._write_stall is None:
            self._write_stall = self.loop.call_later(
                self.write_stall_timeout_s, self._stalled_writing
            )

    def resume_writing(self) -> None:
        """The client reads again."""
        self._writable()
        super().resume_writing()

    def _writable(self) -> None:
        if self._write_stall is not None:
            self._write_stall.cancel()
            self._write_stall = None

    def _stalled_writing(self) -> None:
        self._write_stall = None
        if not self.transport.is_closing():
            log.info("http.connection_timed_out", waiting_for="client_read")
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        """Parse; a request whose headers go on past MAX_HEADER_BYTES is cut off."""
        if self._waiting == "headers":
            self._header_bytes += len(data)
        super().data_received(data)
        if self._waiting == "headers" and self._header_bytes > self.max_header_bytes:
            log.info("http.connection_refused", reason="headers_too_large")
            self._expect(None, 0.0)
            if not self.transport.is_closing():
                self.transport.close()

    def on_headers_complete(self) -> None:
        """Headers are in: from now on only a stalled body can expire."""
        self._expect("body", self.body_idle_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Each piece of body restarts the idle deadline."""
        self._expect("body", self.body_idle_timeout_s)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The request is complete: nothing is owed until the response is sent."""
        self._expect(None, 0.0)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Between requests the next headers have keep-alive + the header deadline."""
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._expect("headers", self.timeout_keep_alive + self.header_timeout_s)

    def _expect(self, what: str | None, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting = what
        if what == "headers":
            self._header_bytes = 0
        if what is not None:
            self._deadline = self.loop.call_later(seconds, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self._waiting is not None and not self.transport.is_closing():
            log.info("http.connection_timed_out", waiting_for=self._waiting)
            self._waiting = None
            self.transport.close()
