"""Event-loop lag: a timer that should fire every `interval` and records how late it was.

It also proves liveness to systemd (`WATCHDOG=1`): a stuck loop stops the pings.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import anyio.abc

from aglidein.services.metrics import Metrics

__all__ = ["LoopMonitor"]


class LoopMonitor:
    """Measures event-loop lag into `aglidein_event_loop_lag_seconds`."""

    name = "loop_monitor"

    def __init__(
        self,
        metrics: Metrics,
        *,
        interval: float = 0.1,
        watchdog: Callable[[], None] | None = None,
        watchdog_every: float | None = None,
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.watchdog = watchdog
        self.watchdog_every = watchdog_every
        self.max_lag = 0.0
        self._stop = anyio.Event()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Sample until stopped."""
        task_status.started()
        last_ping = 0.0
        while not self._stop.is_set():
            before = time.monotonic()
            with anyio.move_on_after(self.interval):
                await self._stop.wait()
            if self._stop.is_set():
                break
            lag = max(0.0, time.monotonic() - before - self.interval)
            self.max_lag = max(self.max_lag, lag)
            self.metrics.event_loop_lag.observe(lag)
            now = time.monotonic()
            if self.watchdog and self.watchdog_every and now - last_ping >= self.watchdog_every:
                self.watchdog()
                last_ping = now

    async def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
