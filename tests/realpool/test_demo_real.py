"""`aglidein demo --real-pool` (issue 13 item 5) as a user runs it: its own VO pool and
site, real user jobs finishing on real glideins, a summary, and no condor process left."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aglidein.condor.personal.instance import pids_of
from tests.daemon_helpers import free_port
from tests.realpool.release import CondorRelease, find_tarball


def demo_argv(duration: str) -> list[str]:
    tarball = find_tarball()
    assert tarball is not None, "the glideins need an HTCondor tarball (--condor-tarball)"
    return [
        *(sys.executable, "-m", "aglidein", "demo", "--real-pool", "--no-tty"),
        *("--duration", duration, "--port", str(free_port())),
        *("--condor-tarball", str(tarball)),
    ]


def stopped_and_gone(out: str) -> None:
    """The pools' directory is gone and nothing of it runs (daemons, glidein startds)."""
    removed = re.search(r"\(stopped the pools, removed (/tmp/agp-\S+)\)", out)
    assert removed, out
    base = Path(removed.group(1))
    assert not base.exists()
    assert pids_of(base) == []


@pytest.mark.timeout(600)
def test_the_real_demo_runs_user_jobs_on_glideins_and_leaves_no_daemon(
    condor_release: CondorRelease,
) -> None:
    done = subprocess.run(demo_argv("100s"), capture_output=True, text=True, timeout=540)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    ran = re.search(r"user jobs: (\d+) submitted, (\d+) completed, (\d+) of them on glidein", out)
    assert ran, out
    assert int(ran.group(3)) >= 1, out
    assert re.search(r"glideins: [1-9]\d* submitted .*; exited by reason: ", out), out
    assert "[ok  ] user jobs completed on glidein slots" in out
    assert "all checks held" in out
    stopped_and_gone(out)


@pytest.mark.timeout(300)
def test_sigterm_stops_the_demo_and_every_condor_process_it_started(
    condor_release: CondorRelease,
) -> None:
    demo = subprocess.Popen(
        demo_argv("10m"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert demo.stdout is not None
    seen = []
    for line in demo.stdout:  # the daemon runs and has queued the first user jobs
        seen.append(line)
        if line.startswith("[") and "cycle" in line:
            break
    demo.send_signal(signal.SIGTERM)
    out, _ = demo.communicate(timeout=120)
    out = "".join(seen) + out
    assert demo.returncode == 1, out  # the checks had no time to hold
    assert "real demo summary: interrupted" in out
    assert "Traceback" not in out
    stopped_and_gone(out)
