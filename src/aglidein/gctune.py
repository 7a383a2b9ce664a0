"""Garbage collection for the daemon and its log writer process.

CPython collects its youngest generation every 700 net allocations of container
objects. Ingest allocates a dict per record, and at 700 the collections took about 7 %
of the daemon's CPU under load (bench/ingest/run.py). `aglidein run` and the log writer
process raise the thresholds and freeze what starting allocated (config, modules, the
store's state), which later collections then never scan.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Collect once, freeze the survivors out of later collections, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
