"""A batch's stored lines: compressed when that is smaller, read back byte for byte,
and batches stored as plain NDJSON (before compression) still read as they are."""

from __future__ import annotations

import threading

import orjson

from aglidein.store.blobs import ZSTD_MAGIC, pack_lines, unpack_lines


def _lines(count: int) -> bytes:
    return b"\n".join(
        orjson.dumps(
            {
                "seq": i,
                "ts": "2026-01-01T00:00:00Z",
                "level": "info",
                "event": "validate.cvmfs",
                "msg": f"repository /cvmfs/cms.cern.ch mounted in {i * 7 % 1000} ms",
                "slot": i % 8,
            }
        )
        for i in range(count)
    )


def test_a_batch_is_stored_compressed_and_read_back_byte_for_byte() -> None:
    data = _lines(100)
    packed = pack_lines(data)
    assert packed.startswith(ZSTD_MAGIC)
    assert len(packed) * 3 < len(data)
    assert unpack_lines(packed) == data


def test_what_compression_would_not_shrink_is_stored_as_it_is() -> None:
    data = b'{"seq":1}'
    assert pack_lines(data) == data
    assert unpack_lines(pack_lines(data)) == data


def test_plain_batches_of_older_stores_read_as_they_are() -> None:
    data = _lines(3)
    assert unpack_lines(data) == data
    assert unpack_lines(memoryview(data)) == data  # type: ignore[arg-type]


def test_threads_pack_and_unpack_at_once() -> None:
    batches = [_lines(n) for n in range(1, 60)]
    failures: list[int] = []

    def work() -> None:
        for data in batches:
            if unpack_lines(pack_lines(data)) != data:
                failures.append(len(data))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
