"""Local-universe jobs of the simulated pool: real processes on this host.

A `local` entry's glidein really runs `glidein_startup.sh` (no-condor mode) here, as the
schedd's local universe would. Processes are started without waiting (Popen) and polled
by the simulation step, so the event loop never blocks on them.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import structlog

__all__ = ["LocalRunner"]

log = structlog.get_logger()


class LocalRunner:
    """Starts, polls and stops local-universe job processes by job id."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        job_id: str,
        executable: str,
        arguments: str,
        environment: str,
        stdout: str | None,
        stderr: str | None,
        cwd: str | None = None,
    ) -> str | None:
        """Start the job's process; None, or why it could not start."""
        env = dict(os.environ)
        for item in shlex.split(environment or ""):
            name, _, value = item.partition("=")
            if name:
                env[name] = value
        try:
            out = _open_output(stdout)
            err = _open_output(stderr)
            try:
                proc = subprocess.Popen(
                    [executable, *shlex.split(arguments or "")],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    cwd=cwd or None,
                    start_new_session=True,  # a signal to the daemon does not reach it
                )
            finally:
                for handle in (out, err):
                    if not isinstance(handle, int):
                        handle.close()
        except OSError as exc:
            return f"cannot run {executable}: {exc.strerror or exc}"
        self._procs[job_id] = proc
        log.debug("fake.local_started", job=job_id, pid=proc.pid)
        return None

    def poll(self, job_id: str) -> int | None:
        """The process's return code once it ended (negative: killed by that signal)."""
        proc = self._procs.get(job_id)
        if proc is None:
            return None
        code = proc.poll()
        if code is not None:
            del self._procs[job_id]
        return code

    def running(self, job_id: str) -> bool:
        """Whether the job has a live process."""
        return job_id in self._procs

    def stop(self, job_id: str, *, grace: float = 0.0) -> None:
        """Send SIGTERM (then SIGKILL after `grace`) to the job's process group."""
        proc = self._procs.pop(job_id, None)
        if proc is None:
            return
        _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)

    def stop_all(self, *, grace: float = 0.0) -> None:
        """Stop every process."""
        for job_id in list(self._procs):
            self.stop(job_id, grace=grace)

    def signal_all(self, signum: int) -> None:
        """Send `signum` to every process group."""
        for proc in self._procs.values():
            _signal_group(proc, signum)

    def reap(self) -> int:
        """Forget processes that ended; how many are still alive."""
        for job_id in [j for j, p in self._procs.items() if p.poll() is not None]:
            del self._procs[job_id]
        return len(self._procs)

    @property
    def pids(self) -> list[int]:
        """Pids of the live processes."""
        return [p.pid for p in self._procs.values()]


def _open_output(path: str | None) -> int | IO[bytes]:
    if not path or path == "/dev/null":
        return subprocess.DEVNULL
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab")


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
