"""Finding and killing the processes of an instance by its directory (pids_of,
kill_leftovers): by CONDOR_CONFIG in their environment or by working directory; its
daemons by program and local name (daemon_pids)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aglidein.condor.personal.processes import daemon_pids, kill_leftovers, pids_of


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two processes of an instance under tmp_path/inst (one by its CONDOR_CONFIG, one by
    its working directory) and one elsewhere."""
    base = tmp_path / "inst"
    (base / "jobs").mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    env = {**os.environ, "CONDOR_CONFIG": f"{base}/condor_config"}
    procs = [
        subprocess.Popen(["sleep", "30"], env=env, cwd=other),
        subprocess.Popen(["sleep", "30"], cwd=base / "jobs"),
        subprocess.Popen(["sleep", "30"], cwd=other),
    ]
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_pids_of_finds_an_instances_processes_by_config_or_directory(
    sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    by_config, by_cwd, elsewhere = (p.pid for p in sleepers)
    found = pids_of(tmp_path / "inst")
    assert by_config in found
    assert by_cwd in found
    assert elsewhere not in found
    assert os.getpid() not in found
    # a sibling whose name starts the same is another instance
    assert not {by_config, by_cwd} & set(pids_of(tmp_path / "ins"))


def test_kill_leftovers_kills_only_the_instances_processes(
    sleepers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    killed = kill_leftovers(tmp_path / "inst")
    assert sorted(killed) == sorted(p.pid for p in sleepers[:2])
    assert sleepers[0].wait(5) < 0
    assert sleepers[1].wait(5) < 0
    assert sleepers[2].poll() is None
    assert pids_of(tmp_path / "inst") == []


def test_daemon_pids_tells_the_instances_own_daemon_from_one_with_a_local_name(
    tmp_path: Path,
) -> None:
    base = tmp_path / "inst"
    base.mkdir()
    env = {**os.environ, "CONDOR_CONFIG": f"{base}/condor_config"}
    script = "sleep 30; true"  # not exec'd: the shell stays, with its argv
    own = subprocess.Popen(["/bin/sh", "-c", script], env=env)
    named = subprocess.Popen(["/bin/sh", "-c", script, "-local-name", "fs1"], env=env)
    try:
        assert daemon_pids(base, "sh") == [own.pid]
        assert daemon_pids(base, "sh", "fs1") == [named.pid]
        assert daemon_pids(base, "sh", "fs2") == []
    finally:
        kill_leftovers(base)
        own.wait()
        named.wait()


def test_a_fork_of_a_daemon_is_not_another_daemon(tmp_path: Path) -> None:
    base = tmp_path / "inst"
    base.mkdir()
    env = {**os.environ, "CONDOR_CONFIG": f"{base}/condor_config"}
    # a process whose child runs on as the same program with the same arguments, as a
    # daemon's fork does before it runs its own program
    script = (
        "import os, sys, time; os.fork(); sys.stdout.write('x'); sys.stdout.flush(); time.sleep(30)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, "-local-name", "fs1"], env=env, stdout=subprocess.PIPE
    ) as daemon:
        try:
            assert daemon.stdout is not None
            assert daemon.stdout.read(2) == b"xx"  # both the process and its fork run
            program = Path(f"/proc/{daemon.pid}/comm").read_text().strip()
            assert len(pids_of(base)) == 2
            assert daemon_pids(base, program, "fs1") == [daemon.pid]
        finally:
            kill_leftovers(base)
