"""The daemon's end of the socket to the writer process: frames sent without waiting
arrive whole and in order, even when the socket's buffer is full; the other end's
going away is seen by both directions."""

from __future__ import annotations

import socket
import threading

import anyio
import pytest

from aglidein.store.framepipe import FramePipe
from aglidein.store.writer_child import read_frame, send_frame


@pytest.mark.anyio
async def test_frames_arrive_in_order_when_the_socket_is_full() -> None:
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    pipe = FramePipe(ours)
    blob = b"x" * 50_000  # far more than the socket buffer takes at once
    got: list[object] = []

    def far_end() -> None:
        with theirs.makefile("rb") as stream:
            for _ in range(20):
                got.append(read_frame(stream))

    reader = threading.Thread(target=far_end)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipe.flush)
        for n in range(20):
            pipe.send(("lines", n, blob))  # returns at once: no await
        reader.start()
        with anyio.fail_after(10):
            await anyio.to_thread.run_sync(reader.join, abandon_on_cancel=True)
        tg.cancel_scope.cancel()
    pipe.close()
    theirs.close()
    assert [m[1] for m in got] == list(range(20))  # type: ignore[index]
    assert all(m[2] == blob for m in got)  # type: ignore[index]


@pytest.mark.anyio
async def test_receive_returns_whole_messages_then_the_end() -> None:
    ours, theirs = socket.socketpair()
    pipe = FramePipe(ours)
    send_frame(theirs, ("settled", 1))
    send_frame(theirs, ("state", 2))
    received: list[object] = []
    with anyio.fail_after(5):
        while len(received) < 2:
            received += await pipe.receive()
    assert received == [("settled", 1), ("state", 2)]
    theirs.close()
    with anyio.fail_after(5), pytest.raises(anyio.EndOfStream):
        await pipe.receive()
    pipe.close()


@pytest.mark.anyio
async def test_sending_to_a_gone_process_raises_and_close_is_final() -> None:
    ours, theirs = socket.socketpair()
    pipe = FramePipe(ours)
    theirs.close()
    with pytest.raises(BrokenPipeError):
        pipe.send(("lines", 0, b"y" * 10_000))
    with pytest.raises(BrokenPipeError):
        pipe.send(("stop",))  # the failure stays
    pipe.close()
    pipe.close()  # twice is harmless
    with pytest.raises(anyio.ClosedResourceError):
        pipe.send(("stop",))
