"""Local-universe jobs are real processes: environment and output as submitted, exit codes
polled without waiting, stopped with their whole process group."""

from __future__ import annotations

import time
from pathlib import Path

from aglidein.condor.local_runner import LocalRunner


def _wait_code(runner: LocalRunner, job_id: str, within_s: float = 20.0) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        code = runner.poll(job_id)
        if code is not None:
            return code
        time.sleep(0.02)
    raise AssertionError(f"{job_id} did not end within {within_s}s")


def test_a_job_runs_with_its_environment_and_output_and_exit_code(tmp_path: Path) -> None:
    runner = LocalRunner()
    out = tmp_path / "out" / "job.out"
    problem = runner.start(
        "1.0",
        "/bin/sh",
        "-c 'echo $GREETING; pwd; exit 3'",
        "GREETING=hello",
        str(out),
        None,
        cwd=str(tmp_path),
    )
    assert problem is None
    assert _wait_code(runner, "1.0") == 3
    assert out.read_text().splitlines() == ["hello", str(tmp_path)]
    assert not runner.running("1.0")
    assert runner.poll("1.0") is None  # forgotten once its code was read


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    runner = LocalRunner()
    child = tmp_path / "child.pid"
    assert (
        runner.start("2.0", "/bin/sh", f"-c 'sleep 60 & echo $! > {child}; wait'", "", None, None)
        is None
    )
    deadline = time.monotonic() + 20
    while not child.exists() or not child.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert runner.reap() == 1
    runner.stop("2.0", grace=5)
    assert runner.reap() == 0
    pid = int(child.read_text())
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
        assert time.monotonic() < deadline, "the sleep outlived its glidein"
        time.sleep(0.05)


def test_a_missing_executable_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    problem = LocalRunner().start("3.0", str(tmp_path / "nope"), "", "", None, None)
    assert problem is not None
    assert problem.startswith(f"cannot run {tmp_path / 'nope'}")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
