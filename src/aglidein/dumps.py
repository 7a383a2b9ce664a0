"""Streaming reads of `condor_q -json` / `condor_status -json` dumps.

HTCondor writes one ad per block: `[`, then `{` … `}` blocks separated by `,` lines, then
`]`. A block ends with a `}` at the start of a line (nested ads are indented), so the
reader cuts the file into runs of whole ads at such lines and decodes each run with one
`orjson.loads` call: memory stays at one chunk of ads, however big the dump. A dump in
any other JSON layout is decoded whole.

`shape_dump` counts the jobs of a dump straight into a `Shaper`: each run of ads is
decoded by msgspec into small structs of the projected attributes only (the others are
skipped by the parser, never built), counted, and dropped. A run it cannot take that way
(a projected name spelled otherwise, numbers of several types in an exact column, a list
or nested ad value, or what msgspec refuses) is decoded whole and given to `Shaper.add`,
so the counts are the same either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy
import orjson

from aglidein.core.shaper import Shaper
from aglidein.errors import AglideinError

__all__ = ["DumpError", "iter_ad_batches", "read_ads", "shape_dump"]

CHUNK_BYTES = 8 << 20
# runs of ~20k jobs: below glibc's largest mmap threshold (32 MiB), so the buffers are
# reused instead of mapped and faulted in afresh for every run (1M jobs: 0.2 s of system
# time instead of 1.2 s)
SHAPE_CHUNK_BYTES = 8 << 20


class DumpError(AglideinError):
    """A dump file that cannot be read or is not a JSON list of ads."""


def _ends(buffer: bytes | bytearray) -> int:
    """Index just past the last complete ad block in `buffer`, or -1."""
    pos = len(buffer)
    while True:
        pos = buffer.rfind(b"\n}", 0, pos)
        if pos < 0:
            return -1
        after = buffer[pos + 2 : pos + 3]
        if after in (b"\n", b",", b"]", b"\r"):
            return pos + 2
        if after == b"" and pos + 2 == len(buffer):
            return -1  # the next chunk decides whether this closes an ad


_BLANK = b" \t\r\n,"


def _span(run: bytes | bytearray) -> tuple[int, int]:
    """(start, stop) of the ads inside a run: no blanks, separators or brackets around."""
    start, stop = 0, len(run)
    while start < stop and run[start] in _BLANK:
        start += 1
    if start < stop and run[start] == ord("["):
        start += 1
    while stop > start and run[stop - 1] in _BLANK:
        stop -= 1
    if stop > start and run[stop - 1] == ord("]"):
        stop -= 1
    while start < stop and run[start] in _BLANK:
        start += 1
    while stop > start and run[stop - 1] in _BLANK:
        stop -= 1
    return start, stop


def _body(run: bytes | bytearray) -> bytes | bytearray:
    """A run of ads as the inside of a JSON list (b"" when it holds none)."""
    start, stop = _span(run)
    return run[start:stop]


def _decode(run: bytes | bytearray, path: Path) -> list[dict[str, Any]]:
    body = _body(run)
    if not body:
        return []
    try:
        ads = orjson.loads(b"[" + body + b"]")
    except orjson.JSONDecodeError as exc:
        raise DumpError(f"{path}: not a JSON ad dump: {exc}") from None
    if not all(isinstance(ad, dict) for ad in ads):
        raise DumpError(f"{path}: every ad must be a JSON object")
    return ads  # type: ignore[no-any-return]


def iter_ad_batches(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[dict[str, Any]]]:
    """The ads of a dump, a batch of whole ads at a time."""
    for run in _iter_runs(path, chunk_bytes):
        batch = _decode(run, path)
        if batch:
            yield batch


def _iter_runs(path: Path, chunk_bytes: int) -> Iterator[bytearray]:
    """The dump cut into runs of whole ads (raw bytes, separators and brackets included);
    each run is a buffer of its own, which the caller may change."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DumpError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        buffer = bytearray()
        first = True
        while True:
            more = handle.read(chunk_bytes)
            if first:
                first = False
                if more.strip() and not more.lstrip().startswith(b"["):
                    raise DumpError(f"{path}: not a JSON list of ads (condor_q -json output)")
            buffer += more
            if not more:
                if buffer.strip():
                    yield buffer
                return
            end = _ends(buffer)
            if end > 0:
                end += 1  # the byte after the ad's `}` (there is one) goes with the run
                run, buffer = buffer, buffer[end:]  # only the rest (part of one ad) is copied
                del run[end:]
                yield run


def read_ads(path: Path) -> list[dict[str, Any]]:
    """Every ad of a (small) dump."""
    return [ad for batch in iter_ad_batches(path) for ad in batch]


def shape_dump(path: Path, shaper: Shaper, chunk_bytes: int = SHAPE_CHUNK_BYTES) -> int:
    """Count every job of a `condor_q -json` dump into `shaper`; the number of jobs.

    Only the projected attributes are decoded (see the module docstring); the counts
    equal those of `shaper.add` on every ad of `read_ads(path)`.
    """
    jobs = 0
    for run in _iter_runs(path, chunk_bytes):
        start, stop = _span(run)
        if start >= stop:
            continue
        listed = _as_list(run, start, stop)
        while True:
            counted = _count_projected(listed, shaper)
            if counted is None:
                batch = _decode(run, path)
                shaper.add(batch)
                jobs += len(batch)
                break
            layout, counts, n = counted
            if shaper.add_counts(layout, counts):
                jobs += n
                break
    return jobs


def _as_list(run: bytearray, start: int, stop: int) -> bytearray:
    """The ads of `run[start:stop]` as a JSON list: `[` and `]` written over the
    separators around them (the run's own bytes, no copy of 32 MiB), else copied."""
    if start == 0 or stop == len(run):
        return bytearray(b"".join((b"[", memoryview(run)[start:stop], b"]")))
    run[start - 1] = 0x5B  # [  (over a blank, a `,` or the dump's own `[`)
    run[stop] = 0x5D  # ]  (over a blank, a `,` or the dump's own `]`)
    del run[stop + 1 :]
    del run[: start - 1]  # a bytearray drops its head without moving the rest
    return run


_UNSET = msgspec.UNSET


@lru_cache(maxsize=16)
def _decoder(spellings: tuple[str, ...]) -> msgspec.json.Decoder[list[Any]]:
    """A decoder of a JSON list of ads into structs of these attributes only."""
    fields = [(f"f{i}", Any, _UNSET) for i in range(len(spellings))]
    row = msgspec.defstruct(
        "ProjectedAd",
        fields,
        rename={f"f{i}": spelling for i, spelling in enumerate(spellings)},
        frozen=True,
        gc=False,
    )
    return msgspec.json.Decoder(list[row])  # type: ignore[valid-type]


_NUMERIC = (int, float, bool)


def _fold(data: bytes | bytearray) -> bytearray:
    """`data` with bit 0x20 set in every byte: letters in lower case (and some other
    bytes changed too, so a match in folded bytes may be a false alarm, never a miss)."""
    out = bytearray(len(data))
    numpy.bitwise_or(
        numpy.frombuffer(data, numpy.uint8), 0x20, out=numpy.frombuffer(out, numpy.uint8)
    )
    return out


def _count_projected(
    listed: bytearray, shaper: Shaper
) -> tuple[tuple[str, ...], Counter[tuple[Any, ...]], int] | None:
    """(layout, counts, jobs) of a JSON list of ads by projected values, or None when
    they must be counted from whole ads."""
    projection = shaper.plain_projection()
    if projection is None:
        return None
    names, spellings = projection
    try:
        rows = _decoder(spellings).decode(listed)
        by_row = Counter(rows)
    except (msgspec.DecodeError, TypeError):  # TypeError: an unhashable (list, ad) value
        return None
    columns: list[Any] = []
    injective = True  # no column holds both null and a missing value
    folded: bytearray | None = None
    for i, (name, spelling) in enumerate(zip(names, spellings, strict=True)):
        get = attrgetter(f"f{i}")
        column = list(map(get, by_row))
        values = set(column)
        if _UNSET in values:  # some ads lack it as spelled: are they spelling it otherwise?
            if folded is None:
                if listed.find(b"\\") >= 0 and b"\\u" in listed:  # memchr first: fast
                    return None  # an escaped key could be any name
                folded = _fold(listed)
            quoted = orjson.dumps(spelling)  # the key as JSON spells it
            if folded.count(_fold(quoted)) != listed.count(quoted):
                return None  # perhaps spelled in another case
            injective = injective and None not in values
            column = (
                [None] * len(column)
                if len(values) == 1
                else [None if v is _UNSET else v for v in column]
            )
        if shaper.is_exact(name) and any(isinstance(v, _NUMERIC) for v in values):
            kinds = set(map(type, map(get, rows)))
            if len(kinds.intersection(_NUMERIC)) > 1:
                return None  # 1, 1.0 and true both here: count them apart from whole ads
        columns.append(column)
    keys = zip(*columns, strict=True) if columns else ((),) * len(by_row)
    if injective:
        counts = Counter(dict(zip(keys, by_row.values(), strict=True)))
    else:
        counts = Counter()
        for key, n in zip(keys, by_row.values(), strict=True):
            counts[key] += n
    return names, counts, len(rows)
