"""What a simulated glidein's pilot does on its worker node, as the fake pool sees it:
the entry attrs it advertises (from the attrs file it was given), where a local one
runs, and what a pilot that went wrong leaves on stderr."""

from __future__ import annotations

import os
import shlex
from datetime import UTC, datetime
from pathlib import Path

from aglidein.classad.facade import AdValue
from aglidein.condor.fake_schedd import FakeJob

__all__ = ["as_int", "local_workdir", "read_attrs_file", "str_or_none", "write_pilot_stderr"]


# What a simulated pilot that went wrong leaves on stderr (HTCondor-G brings it back as
# the job's error file), in the pilot's own "TS LEVEL event msg" form, by how it ended.
_PILOT_STDERR = {
    "black_hole": (
        (
            "ERROR",
            "condor.black_hole",
            "black-hole protection tripped: the startd takes no more jobs",
        ),
        ("ERROR", "glidein.end", "exit_code={code} reason=black_hole"),
    ),
    "failed": (
        ("ERROR", "validate.failed", "a required check failed on the worker node"),
        ("ERROR", "glidein.end", "exit_code={code} reason=validation_failed"),
    ),
    "silent": (("WARNING", "condor.startd", "the startd never joined the pool"),),
}


def write_pilot_stderr(job: FakeJob, when: float, fate: str, code: int) -> None:
    """Append what the pilot would have written to the job's error file, by its fate."""
    path = str_or_none(job.ad.get("Err"))
    if path is None or not os.path.isdir(os.path.dirname(path) or "."):
        return
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = _PILOT_STDERR.get(fate, ())  # a pilot that did well posted its records itself
    if not lines:
        return
    text = "".join(f"{stamp} {lvl} {event} {msg.format(code=code)}\n" for lvl, event, msg in lines)
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        return  # like a transfer that failed: no error file


def read_attrs_file(path: str) -> dict[str, AdValue]:
    """`NAME='value'` lines (shell-quoted, as the pilot reads them); numbers as numbers."""
    out: dict[str, AdValue] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        name, sep, quoted = line.partition("=")
        if not sep or not name.strip():
            continue
        try:
            parts = shlex.split(quoted)
        except ValueError:
            continue
        value = parts[0] if parts else ""
        out[name.strip()] = _typed(value)
    return out


def _typed(value: str) -> AdValue:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def str_or_none(value: AdValue | None) -> str | None:
    """A non-empty string value, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: AdValue | None) -> int:
    """A numeric value as an int, else 0."""
    return int(value) if isinstance(value, int | float) else 0


def local_workdir(job: FakeJob) -> str | None:
    """Where a local-universe job runs: its Iwd, else beside its output file."""
    iwd = str_or_none(job.ad.get("Iwd"))
    if iwd:
        return iwd
    out = str_or_none(job.ad.get("Out"))
    return str(Path(out).parent) if out and out != "/dev/null" else None
