"""systemd's notify protocol: datagrams to $NOTIFY_SOCKET, nothing without it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aglidein.sdnotify import Notifier


def test_fields_arrive_as_key_value_lines(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier(str(path))
        assert notifier.enabled
        notifier.send(READY=1, STATUS="serving")
        assert server.recv(4096) == b"READY=1\nSTATUS=serving"
        notifier.close()
        notifier.send(STOPPING=1)  # closed: a no-op


def test_without_a_socket_nothing_is_sent_and_a_gone_systemd_is_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled
    Notifier().send(READY=1)
    gone = Notifier(str(tmp_path / "nobody-listens"))
    gone.send(READY=1)
    gone.close()


def test_the_watchdog_interval_is_half_of_systemds_for_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert Notifier("").watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert Notifier("").watchdog_interval() is None  # another process's watchdog
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "soon")
    assert Notifier("").watchdog_interval() is None
