"""The processes of a personal HTCondor instance, found by the directory they belong to:
what `PoolInstance.stop()` and `Topology.stop()` kill by pid so nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

__all__ = ["daemon_pids", "kill_leftovers", "pids_of"]


def pids_of(base: Path) -> list[int]:
    """Processes that belong to the instance under `base`: CONDOR_CONFIG below it in their
    environment, or their working directory below it (job sandboxes)."""
    marker = f"CONDOR_CONFIG={base}/".encode()
    prefix = str(base) + "/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
                continue
            if (os.readlink(entry / "cwd") + "/").startswith(prefix):
                found.append(int(entry.name))
    return found


def kill_leftovers(base: Path) -> list[int]:
    """SIGKILL every process of the instance under `base` (by pid); the pids killed."""
    pids = pids_of(base)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def daemon_pids(base: Path, program: str, local_name: str | None = None) -> list[int]:
    """The pids of the instance's processes running `program` (e.g. condor_schedd) that
    were started with `-local-name local_name` (None: without one, the instance's own).
    A child of such a process with the same program and arguments is the daemon's fork
    (a schedd's query worker, or any child before it runs its own program), not a
    daemon."""
    found: dict[int, int] = {}  # pid: parent pid
    for pid in pids_of(base):
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/comm").read_text().strip() != program[:15]:
                continue
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if _local_name(argv) == local_name:
                stat = Path(f"/proc/{pid}/stat").read_text()
                found[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return [pid for pid, parent in found.items() if parent not in found]


def _local_name(argv: list[bytes]) -> str | None:
    if b"-local-name" not in argv[:-1]:
        return None
    return argv[argv.index(b"-local-name") + 1].decode(errors="replace")
