"""A glidein's stderr as log records, for glideins that ended without posting any (DESIGN §6).

Pure: the tail of the file in, a `ParsedBatch` out, built through `parse_batch` so the
record limits and validation stay in one place. One record per line, event
`glidein.stderr`. A line the pilot's logger wrote (`<RFC 3339 time> <LEVEL> <event> ...`,
glidein/lib/log.sh) keeps the pilot's level and time; of the other lines (condor,
validation scripts, bash), those that say something failed are `error`, the rest
`warning`.
Their seqs start at `STDERR_SEQ_BASE` (2^62), far above any seq a pilot numbers from,
so a late post by the pilot cannot clash with them and storing them twice is a no-op.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson

from aglidein.core.records import ParsedBatch, parse_batch

__all__ = ["STDERR_EVENT", "STDERR_SEQ_BASE", "STDERR_TAIL_BYTES", "stderr_batch"]

STDERR_EVENT = "glidein.stderr"
STDERR_SEQ_BASE = 1 << 62
STDERR_TAIL_BYTES = 64 * 1024
_EMPTY = "the glidein ended without posting any record and wrote nothing to stderr"
_ERROR_WORDS = re.compile(
    r"error|fatal|fail|denied|cannot|can't|not found|no such|abort|exception|traceback|killed",
    re.IGNORECASE,
)
_PILOT_LINE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S"
)
_FIELDS_RESERVE = 256  # bytes of a record that are not the message


def stderr_batch(
    tail: bytes,
    *,
    ts: float,
    truncated: bool,
    max_fields: int,
    max_bytes: int,
) -> ParsedBatch:
    """Records of the last bytes of a glidein's stderr (`truncated`: the file was longer)."""
    stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = tail.decode("utf-8", errors="replace").splitlines()
    if truncated and lines:
        lines[0] = "…" + lines[0]  # the tail starts inside a line
    lines = [line for line in lines if line.strip()]
    records: list[bytes] = []
    if not lines:
        records.append(_record(0, stamp, "error", _EMPTY, max_bytes))
    for number, line in enumerate(lines):
        level, when = _level_and_time(line, stamp)
        records.append(_record(number, when, level, line, max_bytes))
    return parse_batch(b"\n".join(records), max_fields=max_fields, max_bytes=max_bytes)


def _level_and_time(line: str, stamp: str) -> tuple[str, str]:
    """The pilot's own level and time for a line its logger wrote, else a guess and `stamp`."""
    pilot = _PILOT_LINE.match(line)
    if pilot is not None:
        return pilot.group(2).lower(), pilot.group(1)
    return ("error" if _ERROR_WORDS.search(line) else "warning"), stamp


def _record(number: int, stamp: str, level: str, msg: str, max_bytes: int) -> bytes:
    """One record; a message too long for `record_max_bytes` is cut to fit."""
    budget = max(16, max_bytes - _FIELDS_RESERVE)
    while True:
        raw = orjson.dumps(
            {
                "seq": STDERR_SEQ_BASE + number,
                "ts": stamp,
                "level": level,
                "event": STDERR_EVENT,
                "msg": msg,
                "line": number + 1,
            }
        )
        if len(raw) <= max_bytes or len(msg) <= 16:
            return raw
        msg = msg[: min(budget, len(msg) * max_bytes // len(raw)) - 1] + "…"
        budget = len(msg) - 1
