"""Glidein log records (DESIGN §8): parse and validate one NDJSON batch, line by line.

Pure: bytes in, a `ParsedBatch` out. Valid lines are kept even when others fail, and
every failing line is reported with its 1-based line number. The accepted lines are
kept as their original bytes (re-encoded only when a reserved key was dropped or renamed)
so the store never re-serialises a record.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from operator import add, itemgetter, lt
from typing import cast

import msgspec
import orjson

__all__ = [
    "CORE_KEYS",
    "END_EVENTS",
    "JOB_EVENTS",
    "JOB_FIELDS",
    "LEVELS",
    "LEVEL_BITS",
    "RENAMED_KEYS",
    "LineError",
    "ParsedBatch",
    "level_mask",
    "parse_batch",
    "parse_ts",
    "parse_ts_column",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_INDEX = {name: i for i, name in enumerate(LEVELS)}
LEVEL_BITS = {name: 1 << i for i, name in enumerate(LEVELS)}
CORE_KEYS = frozenset({"seq", "ts", "level", "event", "msg"})
# Names the read API sets from the token: a record's own `glidein` is ignored (DESIGN
# §8) and its `entry` is kept as `record_entry`, so neither can pose as the identity.
RENAMED_KEYS = {"entry": "record_entry"}
END_EVENTS = frozenset({"glidein.exit", "glidein.end"})
# The user jobs a glidein's startd ran (glidein/lib/jobs.sh): `job` (Cluster.Proc@schedd),
# `owner`, `start_time`, and on job.end `end_time`, `duration_s`, `exit_code` or
# `exit_signal` (epoch seconds, integers). Ordinary records to the schema; the store
# indexes them by job (store.userjobs).
JOB_EVENTS = frozenset({"job.start", "job.end"})
JOB_FIELDS = ("job", "owner", "start_time", "end_time", "duration_s", "exit_code", "exit_signal")
SEQ_LIMIT = 1 << 63
EVENT_MAX = 128

_TS_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]00:00)\Z", re.ASCII
)
_HEAD_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}\Z", re.ASCII)
_HEAD = itemgetter(slice(None, 19))  # the whole seconds of a timestamp
_TAIL = itemgetter(slice(19, None))  # its fraction and zone
_EVENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*\Z", re.ASCII)
_SCALARS = frozenset({str, int, float, bool})
_TS_ERROR = "ts must be an RFC 3339 UTC timestamp, e.g. 2026-01-01T00:00:00Z"
# A batch of flat records, decoded and type-checked in one compiled pass.
_FLAT_BATCH = msgspec.json.Decoder(list[dict[str, str | int | float | bool]])
_INT_ONLY = {int}
_STR_ONLY = {str}


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
        """Seconds since the epoch; ValueError when not RFC 3339 UTC."""
        head = text[:19]
        base = self._seconds.get(head)
        if base is None:
            base = _head_seconds(head)
            if len(self._seconds) > 4096:
                self._seconds.clear()
            self._seconds[head] = base
        return base + _fraction(text[19:])


def parse_ts_column(stamps: list[str]) -> list[float]:
    """`parse_ts` of every timestamp, each distinct whole second and each distinct
    fraction parsed once (a batch shares most of them); ValueError on the first bad one."""
    heads = list(map(_HEAD, stamps))
    tails = list(map(_TAIL, stamps))
    bases = {head: _head_seconds(head) for head in set(heads)}
    fractions = list(map(_TAILS.get, tails))
    if None in fractions:
        fractions = [
            _fraction(tail) if f is None else f for f, tail in zip(fractions, tails, strict=True)
        ]
    return list(map(add, map(bases.__getitem__, heads), fractions))


def _fraction(tail: str) -> float:
    frac = _tail_fraction(tail)
    if frac is None:
        raise ValueError(_TS_ERROR)
    return frac


def _head_seconds(head: str) -> float:
    """Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS` (UTC); ValueError otherwise."""
    if not _HEAD_RE.match(head):
        raise ValueError(_TS_ERROR)
    try:
        return datetime.fromisoformat(head.replace("t", "T") + "+00:00").timestamp()
    except ValueError:
        raise ValueError(f"ts {head!r} is not a valid date and time") from None


_TAILS: dict[str, float] = {"Z": 0.0, "z": 0.0, "+00:00": 0.0, "-00:00": 0.0}


def _tail_fraction(tail: str) -> float | None:
    """The fraction of a second in `.123Z`, `Z`, `.5+00:00`; None when malformed."""
    known = _TAILS.get(tail)
    if known is not None:
        return known
    if tail[-1:] in ("Z", "z") and tail[-1:]:
        frac = tail[:-1]
    elif tail[-6:] in ("+00:00", "-00:00"):
        frac = tail[:-6]
    else:
        return None
    digits = frac[1:]
    if frac[:1] != "." or not (0 < len(digits) <= 9 and digits.isascii() and digits.isdigit()):
        return None
    value = float(frac)
    if len(_TAILS) < 20_000:
        _TAILS[tail] = value
    return value


def level_mask(levels: list[str]) -> int:
    """The bit mask of level names (unknown names raise KeyError)."""
    mask = 0
    for name in levels:
        mask |= LEVEL_BITS[name]
    return mask


def parse_batch(body: bytes, *, max_fields: int, max_bytes: int) -> ParsedBatch:
    """Parse an NDJSON body; blank lines are skipped and not counted.

    A batch of valid flat records is checked column by column in a few passes (the
    common case); any doubt sends it line by line, which names every refused line."""
    raws = body.split(b"\n")
    fast = _parse_clean(raws, max_fields, max_bytes)
    if fast is not None:
        return fast
    out = ParsedBatch()
    ts_parser = _TsParser()
    events: set[str] = set()
    rows: list[tuple[int, float, int, str, str, bytes]] = []
    errors = out.errors
    objs = _load_all(raws, max_bytes)
    for number, raw in enumerate(raws, start=1):
        obj = objs[number - 1] if objs is not None else None
        if obj is None:
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            if not raw.strip():
                continue
        try:
            rows.append(_check(obj, raw, max_fields, max_bytes, ts_parser, events))
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
    if rows:
        seqs, ts, levels, evs, msgs, lines = zip(*rows, strict=True)
        out.seqs, out.ts, out.levels = list(seqs), list(ts), list(levels)
        out.events, out.msgs, out.lines = list(evs), list(msgs), list(lines)
        out.increasing = all(a < b for a, b in itertools.pairwise(seqs))
    return out


def _parse_clean(raws: list[bytes], max_fields: int, max_bytes: int) -> ParsedBatch | None:
    """The batch when every line is a valid record that needs no rewriting (no
    reserved key), checked a column at a time; None when any line might not be."""
    count = len(raws) - (1 if not raws[-1] else 0)
    lines = raws[:count]
    if count == 0 or not all(map(bytes.startswith, lines, repeat(b"{"))):
        return None  # blank lines and other values go line by line
    if max(map(len, lines)) > max_bytes:
        return None  # so do long lines
    try:
        objs = _FLAT_BATCH.decode(b"[" + b",".join(lines) + b"]")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if len(objs) != count or max(map(len, objs)) > max_fields + 4:
        return None
    if any("glidein" in o or "entry" in o or "" in o for o in objs):
        return None
    get = dict.get
    seqs = list(map(get, objs, repeat("seq")))
    if set(map(type, seqs)) != _INT_ONLY:
        return None
    ints = cast(list[int], seqs)
    if min(ints) < 0 or max(ints) >= SEQ_LIMIT:
        return None
    stamps = list(map(get, objs, repeat("ts")))
    msgs = list(map(get, objs, repeat("msg"), repeat("")))
    events = list(map(get, objs, repeat("event")))
    if set(map(type, stamps)) != _STR_ONLY or set(map(type, msgs)) != _STR_ONLY:
        return None
    for event in set(events):
        if type(event) is not str or len(event) > EVENT_MAX or not _EVENT_RE.match(event):
            return None
    levels = list(map(LEVEL_INDEX.get, map(get, objs, repeat("level"))))  # type: ignore[arg-type]
    if None in levels:
        return None
    try:
        ts = parse_ts_column(cast(list[str], stamps))
    except ValueError:
        return None
    return ParsedBatch(
        seqs=ints,
        ts=ts,
        levels=cast(list[int], levels),
        events=cast(list[str], events),
        msgs=cast(list[str], msgs),
        lines=lines,
        increasing=all(map(lt, ints, ints[1:])),
    )


def _load_all(raws: list[bytes], max_bytes: int) -> list[object] | None:
    """Every line decoded with one orjson call when all are plain JSON objects."""
    if not raws[-1].strip():
        raws.pop()
    if not raws or any(not r or r[0] != 123 or len(r) > max_bytes for r in raws):  # 123 = "{"
        return None
    try:
        objs: list[object] = orjson.loads(b"[" + b",".join(raws) + b"]")
    except orjson.JSONDecodeError:
        return None
    return objs if len(objs) == len(raws) else None


def _check(
    obj: object,
    raw: bytes,
    max_fields: int,
    max_bytes: int,
    ts_parser: _TsParser,
    events: set[str],
) -> tuple[int, float, int, str, str, bytes]:
    if obj is None:
        if len(raw) > max_bytes:
            raise ValueError(
                f"record is {len(raw)} bytes, more than record_max_bytes ({max_bytes})"
            )
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
    for name, renamed in RENAMED_KEYS.items():
        if name in obj:
            if renamed in obj:
                raise ValueError(f"field {name!r} is reserved and {renamed!r} is taken")
            obj[renamed] = obj.pop(name)
            dropped = True
    fields = len(obj) - (5 if "msg" in obj else 4)
    if fields > max_fields:
        raise ValueError(f"{fields} fields, more than record_max_fields ({max_fields})")
    if not _SCALARS.issuperset(map(type, obj.values())):
        key = next(k for k, v in obj.items() if type(v) not in _SCALARS)
        raise ValueError(f"field {key!r} must be a string, number or boolean")
    if "" in obj:
        raise ValueError("field names must not be empty")
    if dropped:
        raw = orjson.dumps(obj)
    return seq, ts, level, event, msg, raw
