"""HTCondor job event logs (the `log =` file of a glidein cluster): write and read.

The simulated schedd writes the events HTCondor writes; the provisioner reads the
ends of either to count glidein exits by reason (DESIGN §6): `005 Job terminated`
(an exit code or a signal) and `009 Job was aborted` (removed by condor_rm or a
policy, before or while it ran).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

__all__ = ["JobEnd", "append_event", "format_event", "parse_job_ends", "read_new_job_ends"]

log = structlog.get_logger()
_HEADER = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) (\S+ \S+) (.*)$")
_NORMAL = re.compile(r"Normal termination \(return value (-?\d+)\)")
_SIGNAL = re.compile(r"Abnormal termination \(signal (\d+)\)")


_TERMINATED = "005"
_ABORTED = "009"


@dataclass(frozen=True, slots=True)
class JobEnd:
    """A job's end: `005 Job terminated` (exit code, or the signal that ended it) or
    `009 Job was aborted` (`removed`)."""

    cluster: int
    proc: int
    exit_code: int | None
    signal: int | None
    removed: bool = False
    schedd: str = ""  # the factory schedd whose cluster.proc this is (set by the reader's caller)


def format_event(code: int, cluster: int, proc: int, when: float, text: str, *body: str) -> str:
    """One event in HTCondor's user-log text format, `...` line included."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))
    lines = [f"{code:03d} ({cluster:03d}.{proc:03d}.000) {stamp} {text}"]
    lines += [f"\t{line}" for line in body]
    return "\n".join(lines) + "\n...\n"


def append_event(path: str | Path, event: str) -> None:
    """Append one event to a user log (a failure is logged, not raised: the job goes on)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(event)
    except OSError as exc:
        log.warning("userlog.write_failed", path=str(path), error=str(exc))


def parse_job_ends(text: str) -> Iterator[JobEnd]:
    """The end events (terminated, aborted) in a chunk of user-log text (whole events only)."""
    for block in text.split("...\n"):
        lines = block.strip("\n").splitlines()
        if not lines:
            continue
        header = _HEADER.match(lines[0].strip())
        if header is None or header.group(1) not in (_TERMINATED, _ABORTED):
            continue
        if header.group(1) == _ABORTED:
            yield JobEnd(int(header.group(2)), int(header.group(3)), None, None, removed=True)
            continue
        body = "\n".join(lines[1:])
        normal = _NORMAL.search(body)
        killed = _SIGNAL.search(body)
        yield JobEnd(
            cluster=int(header.group(2)),
            proc=int(header.group(3)),
            exit_code=int(normal.group(1)) if normal else None,
            signal=int(killed.group(1)) if killed else None,
        )


def read_new_job_ends(path: Path, offset: int) -> tuple[list[JobEnd], int]:
    """End events appended to `path` since `offset`, and the new offset.

    Stops at the last complete event so a half-written one is read next time; a file
    shorter than `offset` (rotated) is read from the start.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            if size < offset:
                offset = 0
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    # the offset counts bytes of the file, not of its decoding (a byte that is not UTF-8
    # would otherwise move it past the end, and the next read would start over at 0)
    end = data.rfind(b"...\n")
    if end < 0:
        return [], offset
    complete = data[: end + 4].decode("utf-8", errors="replace")
    return list(parse_job_ends(complete)), offset + end + 4
