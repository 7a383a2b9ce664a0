"""The writer process: its messages (length-prefixed pickles, whole or split anywhere),
and the turns in which it stores every body that came as one group."""

from __future__ import annotations

import io
import socket
import sqlite3
import threading
from pathlib import Path

import pytest

from aglidein.config import LogsConfig
from aglidein.core.records import ParsedBatch
from aglidein.store.writer import Job
from aglidein.store.writer_child import (
    _Child,
    _parts,
    encode_frame,
    frames_in,
    read_frame,
    send_frame,
)


def test_messages_cut_anywhere_come_out_whole_and_in_order() -> None:
    messages = [("ingest", i, "g", b"x" * i) for i in range(0, 3000, 250)]
    stream = b"".join(encode_frame(m) for m in messages)
    for step in (1, 7, 4096, len(stream)):
        buffer = bytearray()
        seen = []
        for start in range(0, len(stream), step):
            buffer += stream[start : start + step]
            seen.extend(frames_in(buffer))
        assert seen == messages
        assert buffer == b""


def test_a_blocking_reader_reads_what_a_socket_sent() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, theirs.makefile("rb") as stream:
        send_frame(ours, ("stop",))
        send_frame(ours, ("maintain", 3))
        assert read_frame(stream) == ("stop",)
        assert read_frame(stream) == ("maintain", 3)
        ours.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError):
            read_frame(stream)


def test_a_message_cut_short_is_the_end_of_the_stream() -> None:
    frame = encode_frame(("settled", [1, 2, 3]))
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(frame[:-1]))


def _lines(key: int, seqs: range) -> tuple[object, ...]:
    body = b"".join(
        b'{"seq":%d,"ts":"2026-01-01T00:00:00Z","level":"info","event":"a.b","msg":"m"}\n' % s
        for s in seqs
    )
    return ("lines", key, f"g{key % 3}", "E", body, 64, 65536)


def test_one_turn_stores_every_body_that_came_as_one_group(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    child = _Child(theirs, tmp_path / "logs.db", None)
    messages: list[object] = [("settings", LogsConfig())]
    messages += [_lines(key, range(key * 10, key * 10 + 10)) for key in range(1, 21)]
    messages += [("lines", 21, "g0", "E", b"not json\n", 64, 65536), ("stop",)]
    ours.sendall(b"".join(encode_frame(m) for m in messages))  # all there before it reads
    thread = threading.Thread(target=child.run)
    thread.start()
    replies = []
    with ours, ours.makefile("rb") as stream:
        while not replies or replies[-1] != ("closed",):
            replies.append(read_frame(stream))
    thread.join(30)
    theirs.close()  # the process's main() closes its end
    settled = [m for m in replies if m[0] == "settled"]
    refused = [m for m in settled if m[1][0][0] == 21]
    assert refused[0][1][0][1:3] == (0, 0)  # answered at once, nothing stored
    stored = [m for m in settled if m not in refused]
    assert len(stored) == 1  # twenty bodies, one transaction
    assert sorted(r[0] for r in stored[0][1]) == list(range(1, 21))
    assert all(r[1] == 10 for r in stored[0][1])
    with sqlite3.connect(tmp_path / "logs.db") as db:
        assert db.execute("SELECT sum(n) FROM batches").fetchone() == (200,)


def test_a_large_group_is_committed_in_parts() -> None:
    def job(records: int) -> Job:
        return Job("g", "E", ParsedBatch(seqs=list(range(records))))

    jobs = [job(30_000), job(30_000), job(10_000), job(50_000), job(1)]
    parts = _parts(jobs)
    assert [[len(j.batch) for j in part] for part in parts] == [
        [30_000, 30_000],
        [10_000, 50_000],
        [1],
    ]
    assert _parts([]) == []
