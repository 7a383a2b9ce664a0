"""Event-loop lag is measured, and systemd's watchdog pinged while the loop turns."""

from __future__ import annotations

import time

import anyio

from aglidein.services.loop_monitor import LoopMonitor
from aglidein.services.metrics import Metrics


async def test_a_blocked_loop_shows_as_lag_and_pings_go_on() -> None:
    metrics = Metrics()
    pings: list[float] = []
    monitor = LoopMonitor(
        metrics, interval=0.01, watchdog=lambda: pings.append(1.0), watchdog_every=0.01
    )
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            await tg.start(monitor.run)
            await anyio.sleep(0.05)
            time.sleep(0.3)  # noqa: ASYNC251 (blocking the event loop is the point)
            await anyio.sleep(0.05)
            await monitor.stop()
    assert monitor.max_lag >= 0.2
    assert pings
    assert "aglidein_event_loop_lag_seconds_count" in metrics.render().decode()
