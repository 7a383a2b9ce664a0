"""`aglidein demo --real-pool` (issue 13 item 5) as a user runs it: its own VO pool and
site, real user jobs finishing on real glideins, a summary, and no condor process left."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from aglidein.condor.personal.instance import pids_of
from tests.daemon_helpers import free_port
from tests.realpool.release import CondorRelease, find_tarball


@pytest.mark.timeout(600)
def test_the_real_demo_runs_user_jobs_on_glideins_and_leaves_no_daemon(
    condor_release: CondorRelease,
) -> None:
    tarball = find_tarball()
    assert tarball is not None, "the glideins need an HTCondor tarball (--condor-tarball)"
    argv = [sys.executable, "-m", "aglidein", "demo", "--real-pool", "--no-tty"]
    argv += ["--duration", "100s", "--port", str(free_port()), "--condor-tarball", str(tarball)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=540, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    ran = re.search(r"user jobs: (\d+) submitted, (\d+) completed, (\d+) of them on glidein", out)
    assert ran, out
    assert int(ran.group(3)) >= 1, out
    assert re.search(r"glideins: [1-9]\d* submitted .*; exited by reason: ", out), out
    assert "[ok  ] user jobs completed on glidein slots" in out
    assert "all checks held" in out
    # the pools' directory is gone and nothing of it runs (daemons, glidein startds)
    removed = re.search(r"\(stopped the pools, removed (/tmp/agp-\S+)\)", out)
    assert removed, out
    base = Path(removed.group(1))
    assert not base.exists()
    assert pids_of(base) == []
