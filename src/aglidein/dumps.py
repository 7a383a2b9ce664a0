"""Streaming reads of `condor_q -json` / `condor_status -json` dumps.

HTCondor writes one ad per block: `[`, then `{` … `}` blocks separated by `,` lines, then
`]`. A block ends with a `}` at the start of a line (nested ads are indented), so the
reader cuts the file into runs of whole ads at such lines and decodes each run with one
`orjson.loads` call: memory stays at one chunk of ads, however big the dump. A dump in
any other JSON layout is decoded whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from aglidein.errors import AglideinError

__all__ = ["DumpError", "iter_ad_batches", "read_ads"]

CHUNK_BYTES = 8 << 20


class DumpError(AglideinError):
    """A dump file that cannot be read or is not a JSON list of ads."""


def _ends(buffer: bytes) -> int:
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


def _decode(run: bytes, path: Path) -> list[dict[str, Any]]:
    body = run.strip().strip(b",").strip()
    if body.startswith(b"["):
        body = body[1:]
    if body.endswith(b"]"):
        body = body[:-1]
    body = body.strip().strip(b",")
    if not body.strip():
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
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DumpError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        buffer = b""
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
                    batch = _decode(buffer, path)
                    if batch:
                        yield batch
                return
            end = _ends(buffer)
            if end > 0:
                batch = _decode(buffer[:end], path)
                buffer = buffer[end:]
                if batch:
                    yield batch


def read_ads(path: Path) -> list[dict[str, Any]]:
    """Every ad of a (small) dump."""
    return [ad for batch in iter_ad_batches(path) for ad in batch]
