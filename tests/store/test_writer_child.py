"""The writer process's messages: length-prefixed pickles, whole or split anywhere."""

from __future__ import annotations

import io
import socket

import pytest

from aglidein.store.writer_child import encode_frame, frames_in, read_frame, send_frame


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
