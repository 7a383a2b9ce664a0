"""systemd's notify protocol: READY=1, STATUS=, WATCHDOG=1, STOPPING=1 (no-op without
NOTIFY_SOCKET)."""

from __future__ import annotations

import os
import socket

import structlog

__all__ = ["Notifier"]

log = structlog.get_logger()


class Notifier:
    """Sends datagrams to `$NOTIFY_SOCKET`; silently does nothing when it is unset."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address: str | bytes | None = None
        self._sock: socket.socket | None = None
        if address:
            self._address = "\0" + address[1:] if address.startswith("@") else address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        """A socket is configured."""
        return self._sock is not None

    def watchdog_interval(self) -> float | None:
        """Half of systemd's WatchdogSec for this process, or None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return max(0.5, int(usec) / 2_000_000)
        except ValueError:
            return None

    def send(self, **fields: str | int) -> None:
        """Send `KEY=value` lines, e.g. `send(READY=1, STATUS="serving")`."""
        if self._sock is None or self._address is None:
            return
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            self._sock.sendto(message, self._address)
        except OSError as exc:  # systemd gone or socket full: never fatal
            log.warning("sdnotify.failed", error=exc.strerror)

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
