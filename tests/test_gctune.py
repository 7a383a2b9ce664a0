"""Garbage-collection tuning of the daemon and its log writer process."""

from __future__ import annotations

import gc

from aglidein.gctune import GC_THRESHOLDS, tune_gc


def test_tune_gc_freezes_what_lives_and_raises_the_thresholds() -> None:
    saved = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
