"""The structlog setup: JSON lines on stderr (under systemd), levels filtered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from aglidein.logging_setup import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_events_are_json_lines_with_level_and_utc_time(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    log = structlog.get_logger()
    log.debug("cycle.noise", n=1)
    log.info("cycle.done", cycle=3, submitted=2)
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["event"] == "cycle.done"
    assert record["level"] == "info"
    assert (record["cycle"], record["submitted"]) == (3, 2)
    assert record["timestamp"].endswith("Z")


def test_a_console_renderer_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning", json=False)
    structlog.get_logger().info("quiet.event")
    structlog.get_logger().warning("loud.event", entry="CE_A")
    err = capsys.readouterr().err
    assert "quiet.event" not in err
    assert "loud.event" in err
    assert "entry=CE_A" in err
