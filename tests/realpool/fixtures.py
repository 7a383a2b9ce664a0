"""pytest fixtures for the real-pool tests (loaded by tests/conftest.py).

Session-scoped: one VO pool and one site per test session, stopped at session end (also
after failures and Ctrl-C). Tests using these fixtures get the `pool` marker
automatically (`-m "not pool"` deselects them). Without HTCondor the `pool` tests are
left out with one line in the summary, unless AGLIDEIN_REQUIRE_POOL=1 (CI), where their
fixture fails instead.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Iterator

import pytest

from tests.realpool.pool import PoolInstance
from tests.realpool.release import HOW_TO_GET, CondorRelease, find_release
from tests.realpool.topology import Topology, start_topology

__all__ = ["condor_release", "realpool", "site_pool", "vo_env", "vo_pool"]

_SKIPPED = pytest.StashKey[int]()
# local names of the VO pool's two more schedds (fs1@vo.aglidein.test, ...): factory
# schedds for test_factory_schedds.py; idle otherwise
VO_SCHEDDS = ("fs1", "fs2")
POOL_FIXTURES = frozenset({"condor_release", "realpool", "site_pool", "vo_pool", "vo_env"})


def pool_required() -> bool:
    """CI sets AGLIDEIN_REQUIRE_POOL=1: a missing HTCondor fails instead of skipping."""
    return os.environ.get("AGLIDEIN_REQUIRE_POOL", "") not in {"", "0"}


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark every test that uses a real-pool fixture with `pool` (before `-m` selects),
    and put every `pool` test in one xdist group: `make test` runs two workers
    (`--dist loadgroup`), one of which gets all of them and so starts the pool once."""
    if POOL_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.pool)
    if item.get_closest_marker("pool"):
        item.add_marker(pytest.mark.xdist_group("pool"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without HTCondor (and AGLIDEIN_REQUIRE_POOL unset), leave the selected `pool`
    tests out; the terminal summary says so in one line."""
    pool_items = [item for item in items if item.get_closest_marker("pool")]
    if not pool_items or pool_required() or _release() is not None:
        return
    config.hook.pytest_deselected(items=pool_items)
    items[:] = [item for item in items if not item.get_closest_marker("pool")]
    config.stash[_SKIPPED] = len(pool_items)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The one line that says the pool tests did not run, and how to run them (under
    xdist the workers collect, so the count is not known here)."""
    config = terminalreporter.config
    skipped = config.stash.get(_SKIPPED, 0)
    if skipped:
        terminalreporter.write_line(f"SKIPPED {skipped} pool tests: {HOW_TO_GET}", yellow=True)
    elif _under_xdist(config) and not pool_required() and _release() is None:
        terminalreporter.write_line(f"SKIPPED the pool tests: {HOW_TO_GET}", yellow=True)


def _under_xdist(config: pytest.Config) -> bool:
    """This is the controller of xdist workers (`-n`)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


@functools.cache
def _release() -> CondorRelease | None:
    return find_release()


@pytest.fixture(scope="session")
def condor_release() -> CondorRelease:
    """The HTCondor release (PATH, AGLIDEIN_CONDOR_TARBALL, ../shared/htcondor)."""
    release = _release()
    if release is None:
        if pool_required():
            pytest.fail(f"AGLIDEIN_REQUIRE_POOL is set but {HOW_TO_GET}", pytrace=False)
        pytest.skip(HOW_TO_GET)
    return release


@pytest.fixture(scope="session")
def realpool(condor_release: CondorRelease) -> Iterator[Topology]:
    """The running VO pool + site for this session."""
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:  # a killed session still runs its finalizers
        signal.signal(signal.SIGTERM, _interrupt)
    topology = start_topology(condor_release, vo_schedds=VO_SCHEDDS)
    try:
        yield topology
    finally:
        topology.stop()
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def vo_pool(realpool: Topology) -> PoolInstance:
    """The VO pool: user jobs, glidein startds, aglidein's factory schedd (and two more
    schedds, `vo_pool.schedd_names[1:]`)."""
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
