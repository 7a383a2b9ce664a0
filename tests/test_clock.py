"""Clocks: the demo's fast one drives the simulation only; operators keep the wall clock."""

from __future__ import annotations

import pytest

from aglidein.clock import ManualClock, ScaledClock, SystemClock, wall_clock


def test_a_scaled_clock_runs_faster_than_its_base() -> None:
    base = ManualClock()
    clock = ScaledClock(60, base)
    start = clock.now()
    assert start == base.now()
    base.advance(10)
    assert clock.now() - start == 600
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(0)


def test_a_scaled_clock_resumes_a_simulated_time_but_never_starts_in_the_past() -> None:
    base = ManualClock(1_000_000.0)
    ahead = ScaledClock(30, base, start=1_050_000.0)
    assert ahead.now() == 1_050_000.0
    base.advance(10)
    assert ahead.now() == 1_050_300.0
    behind = ScaledClock(30, base, start=5.0)  # older than the wall clock: the wall clock
    assert behind.now() == base.now()


def test_the_wall_clock_under_a_fast_one_and_a_test_clock_stays_in_charge() -> None:
    base = ManualClock()
    assert wall_clock(ScaledClock(30, base)) is base
    manual = ManualClock()
    assert wall_clock(manual) is manual
    assert isinstance(wall_clock(ScaledClock(30)), SystemClock)
