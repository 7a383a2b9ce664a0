"""The real-pool tests' topology (a VO pool and a site): `aglidein.condor.personal.topology`
(one copy, shared with `aglidein demo --real-pool`), re-exported under the harness's names."""

from __future__ import annotations

from aglidein.condor.personal.topology import Topology, start_topology, sweep_stale

__all__ = ["Topology", "start_topology", "sweep_stale"]
