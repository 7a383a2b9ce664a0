"""The real-pool tests' HTCondor instance: `aglidein.condor.personal.instance` (one copy,
shared with `aglidein demo --real-pool`), re-exported under the harness's names."""

from __future__ import annotations

from aglidein.condor.personal.instance import (
    PoolError,
    PoolInstance,
    PoolSpec,
    free_port,
    kill_leftovers,
    wait_until,
)

__all__ = ["PoolError", "PoolInstance", "PoolSpec", "free_port", "kill_leftovers", "wait_until"]
