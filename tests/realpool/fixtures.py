"""pytest fixtures for the real-pool tests (loaded by tests/conftest.py).

Session-scoped: one VO pool and one site per test session, stopped at session end (also
after failures and Ctrl-C). Without HTCondor the tests using them skip with one line,
unless AGLIDEIN_REQUIRE_POOL=1 (CI), where that is a failure. Tests using these fixtures
get the `pool` marker automatically (`-m "not pool"` deselects them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.realpool.pool import PoolInstance
from tests.realpool.release import HOW_TO_GET, CondorRelease, find_release
from tests.realpool.topology import Topology, start_topology

__all__ = ["condor_release", "realpool", "site_pool", "vo_env", "vo_pool"]

POOL_FIXTURES = frozenset({"condor_release", "realpool", "site_pool", "vo_pool", "vo_env"})


def pool_required() -> bool:
    """CI sets AGLIDEIN_REQUIRE_POOL=1: a missing HTCondor fails instead of skipping."""
    return os.environ.get("AGLIDEIN_REQUIRE_POOL", "") not in {"", "0"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a real-pool fixture with `pool`."""
    for item in items:
        if POOL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pool)


@pytest.fixture(scope="session")
def condor_release() -> CondorRelease:
    """The HTCondor release (PATH, AGLIDEIN_CONDOR_TARBALL, ../shared/htcondor)."""
    release = find_release()
    if release is None:
        if pool_required():
            pytest.fail(f"AGLIDEIN_REQUIRE_POOL is set but {HOW_TO_GET}", pytrace=False)
        pytest.skip(HOW_TO_GET)
    return release


@pytest.fixture(scope="session")
def realpool(condor_release: CondorRelease) -> Iterator[Topology]:
    """The running VO pool + site for this session."""
    topology = start_topology(condor_release)
    try:
        yield topology
    finally:
        topology.stop()


@pytest.fixture(scope="session")
def vo_pool(realpool: Topology) -> PoolInstance:
    """The VO pool: user jobs, glidein startds, aglidein's factory schedd."""
    return realpool.vo


@pytest.fixture(scope="session")
def site_pool(realpool: Topology) -> PoolInstance:
    """The site (CE + batch system) glideins run at."""
    return realpool.site


@pytest.fixture
def vo_env(vo_pool: PoolInstance, monkeypatch: pytest.MonkeyPatch) -> PoolInstance:
    """The VO pool with CONDOR_CONFIG set in os.environ for this test, so htcondor2 worker
    processes (aglidein.condor.bindings) spawned during it talk to the VO pool as the
    pool user."""
    monkeypatch.setenv("CONDOR_CONFIG", str(vo_pool.config_path))
    return vo_pool
