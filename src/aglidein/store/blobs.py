"""How a batch's lines are kept in `batch_data.lines`: the NDJSON bytes compressed as
one zstd frame, or as they are when that would not be smaller (and in stores written
before compression, which stay readable as they are).

A record's bytes are what the glidein sent; compression is the store's business only.
Committing a batch writes its pages to the WAL and, at a checkpoint, to the database
again: a few times fewer pages is most of the writer's time (bench/ingest/run.py).
Compressing runs off the event loop (on the writer thread, or in the writer process:
`writer_child`), and zstd releases the GIL while it works.
"""

from __future__ import annotations

import threading

import zstandard

__all__ = ["pack_lines", "unpack_lines"]

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # every zstd frame starts so; a record starts with "{"
LEVEL = 1  # ~45 µs a 30 KB batch here, ~5x on glidein-like records; higher levels gain little

_local = threading.local()


def pack_lines(data: bytes) -> bytes:
    """The stored form of a batch's NDJSON `data` (its lines joined by newlines)."""
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    packed: bytes = compressor.compress(data)
    return packed if len(packed) < len(data) else data


def unpack_lines(blob: bytes) -> bytes:
    """The NDJSON bytes of a stored batch, whichever form it was stored in."""
    if blob[:4] != ZSTD_MAGIC:
        return bytes(blob)
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    data: bytes = decompressor.decompress(blob)
    return data
