"""Shared test helpers: paths, config files, a pool signing key."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon_helpers import JOB_OWNER_LINE, RunningDaemon, free_port, start_daemon

# the real-pool fixtures (realpool, vo_pool, site_pool, vo_env): tests/realpool/README.md
pytest_plugins = ["tests.realpool.fixtures"]

REPO = Path(__file__).resolve().parents[1]
# Test input copied into the repository (provenance and licences: tests/fixtures/*/README.md).
FIXTURES = REPO / "tests" / "fixtures"

MINIMAL_CONFIG = (
    """\
factory:
  name: test-factory
  state_dir: {state_dir}
  shutdown_grace: 10s
"""
    + JOB_OWNER_LINE
    + """\
pool:
  collector: 127.0.0.1:{closed_port}
  trust_domain: test.example.org
  signing_key: {key}
  factory_schedd: 127.0.0.1:{closed_port}
http:
  listen: ["127.0.0.1:{http_port}"]
"""
)


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    """A private pool signing key named POOL."""
    key = tmp_path / "POOL"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    return key


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write config text to a file and return its path."""

    def write(text: str, name: str = "aglidein.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def daemon(tmp_path: Path, signing_key: Path) -> Iterator[RunningDaemon]:
    port, closed = free_port(), free_port()
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        MINIMAL_CONFIG.format(
            state_dir=tmp_path / "state", closed_port=closed, key=signing_key, http_port=port
        )
        + f"groups:\n  - name: main\n    schedds: ['127.0.0.1:{closed}']\n    match: 'true'\n"
        + "entries:\n  - name: LOCAL1\n    gridtype: local\n"
    )
    running = start_daemon(config, tmp_path, port)
    yield running
    running.stop()
    running.notify.close()
