"""Time as a dependency: the daemon reads a Clock, tests and the simulator inject one.

A sped-up `ScaledClock` (the demo) drives only the simulation: the simulated pool and
the decisions about it (cycles, backoff, lifecycle). What operators type and what they
are handed — log tokens, `--since`, the log store's times — lives by `wall_clock()`.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock", "wall_clock"]


class Clock(Protocol):
    """Something that tells the time in seconds since the epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (tests, the simulated pool)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    def set(self, when: float) -> None:
        """Jump to an absolute time (never backwards)."""
        self.advance(when - self._now)


class ScaledClock:
    """Wall time sped up `speed` times from the moment it is made (a fast demo).

    Give the same clock to the daemon (`Daemon(clock=...)`) and the pool, so decisions,
    backoffs and the simulation agree on the time. `start` resumes a simulation where an
    earlier run on the same state dir left it (its stored times are in simulated time);
    the clock never starts before the wall clock.
    """

    def __init__(self, speed: float, base: Clock | None = None, *, start: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.wall: Clock = base or SystemClock()
        self._base_start = self.wall.now()
        self._start = max(self._base_start, start)

    def now(self) -> float:
        """The sped-up time."""
        return self._start + (self.wall.now() - self._base_start) * self.speed


def wall_clock(clock: Clock) -> Clock:
    """The clock operators live by: the wall clock under a sped-up one, else `clock` itself
    (a test's manual clock stays in charge of everything)."""
    return clock.wall if isinstance(clock, ScaledClock) else clock
