"""Glidein log records (DESIGN §8): parse and validate one NDJSON batch, line by line.

Pure: bytes in, a `ParsedBatch` out. Valid lines are kept even when others fail, and
every failing line is reported with its 1-based line number. The accepted lines are
kept as their original bytes (re-encoded only when a `glidein` key had to be dropped)
so the store never re-serialises a record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import orjson

__all__ = [
    "CORE_KEYS",
    "END_EVENTS",
    "LEVELS",
    "LEVEL_BITS",
    "LineError",
    "ParsedBatch",
    "level_mask",
    "parse_batch",
    "parse_ts",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_INDEX = {name: i for i, name in enumerate(LEVELS)}
LEVEL_BITS = {name: 1 << i for i, name in enumerate(LEVELS)}
CORE_KEYS = frozenset({"seq", "ts", "level", "event", "msg"})
END_EVENTS = frozenset({"glidein.exit", "glidein.end"})
SEQ_LIMIT = 1 << 63
EVENT_MAX = 128

_TS_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]00:00)\Z", re.ASCII
)
_EVENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*\Z", re.ASCII)
_SCALARS = frozenset({str, int, float, bool})


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line of a batch was refused."""

    line: int
    error: str


@dataclass(slots=True)
class ParsedBatch:
    """The valid records of one batch, column by column, plus the refused lines.

    `increasing` is true when `seqs` are strictly increasing, which lets the store
    deduplicate the whole batch with one comparison in the common case.
    """

    seqs: list[int] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    msgs: list[str] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    increasing: bool = True

    def __len__(self) -> int:
        return len(self.seqs)

    @property
    def line_count(self) -> int:
        """Non-blank lines seen: valid records plus refused lines."""
        return len(self.seqs) + len(self.errors)


def parse_ts(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC timestamp; ValueError otherwise."""
    return _TsParser().parse(text)


class _TsParser:
    """RFC 3339 UTC parsing with the whole-second part cached (a batch shares it)."""

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def parse(self, text: str) -> float:
        if not _TS_RE.match(text):
            raise ValueError("ts must be an RFC 3339 UTC timestamp, e.g. 2026-01-01T00:00:00Z")
        head = text[:19]
        base = self._seconds.get(head)
        if base is None:
            try:
                base = datetime.fromisoformat(head.replace("t", "T") + "+00:00").timestamp()
            except ValueError:
                raise ValueError(f"ts {text!r} is not a valid date and time") from None
            if len(self._seconds) > 4096:
                self._seconds.clear()
            self._seconds[head] = base
        if text[19] == ".":
            frac = text[19:-1] if text[-1] in "Zz" else text[19:-6]
            return base + float(frac)
        return base


def level_mask(levels: list[str]) -> int:
    """The bit mask of level names (unknown names raise KeyError)."""
    mask = 0
    for name in levels:
        mask |= LEVEL_BITS[name]
    return mask


def parse_batch(body: bytes, *, max_fields: int, max_bytes: int) -> ParsedBatch:
    """Parse an NDJSON body; blank lines are skipped and not counted."""
    out = ParsedBatch()
    last_seq = -1
    ts_parser = _TsParser()
    events: set[str] = set()
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        if not raw.strip():
            continue
        try:
            seq, ts, level, event, msg, line = _parse_line(
                raw, max_fields, max_bytes, ts_parser, events
            )
        except ValueError as exc:
            out.errors.append(LineError(number, str(exc)))
            continue
        if seq <= last_seq:
            out.increasing = False
        last_seq = seq
        out.seqs.append(seq)
        out.ts.append(ts)
        out.levels.append(level)
        out.events.append(event)
        out.msgs.append(msg)
        out.lines.append(line)
    return out


def _parse_line(
    raw: bytes, max_fields: int, max_bytes: int, ts_parser: _TsParser, events: set[str]
) -> tuple[int, float, int, str, str, bytes]:
    if len(raw) > max_bytes:
        raise ValueError(f"record is {len(raw)} bytes, more than record_max_bytes ({max_bytes})")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if type(obj) is not dict:
        raise ValueError("a record must be a JSON object")
    seq = obj.get("seq")
    if type(seq) is not int:
        raise ValueError("seq must be an integer")
    if not 0 <= seq < SEQ_LIMIT:
        raise ValueError("seq must be in 0 .. 2^63-1")
    ts_text = obj.get("ts")
    if type(ts_text) is not str:
        raise ValueError("ts must be an RFC 3339 UTC timestamp string")
    ts = ts_parser.parse(ts_text)
    level_name = obj.get("level")
    level = LEVEL_INDEX.get(level_name) if type(level_name) is str else None
    if level is None:
        raise ValueError("level must be one of " + "|".join(LEVELS))
    event = obj.get("event")
    if event not in events:
        if type(event) is not str or len(event) > EVENT_MAX or not _EVENT_RE.match(event):
            raise ValueError("event must be a dotted name such as validate.cvmfs")
        events.add(event)
    msg = obj.get("msg", "")
    if type(msg) is not str:
        raise ValueError("msg must be a string")
    dropped = "glidein" in obj
    if dropped:
        del obj["glidein"]
    fields = len(obj) - (5 if "msg" in obj else 4)
    if fields > max_fields:
        raise ValueError(f"{fields} fields, more than record_max_fields ({max_fields})")
    for value in obj.values():
        if type(value) not in _SCALARS:
            key = next(k for k, v in obj.items() if v is value)
            raise ValueError(f"field {key!r} must be a string, number or boolean")
    if "" in obj:
        raise ValueError("field names must not be empty")
    if dropped:
        raw = orjson.dumps(obj)
    return seq, ts, level, event, msg, raw
