"""What the demo shows: the live table, the progress line, the summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from aglidein.demo.checks import DemoChecks
from aglidein.demo.view import Moment, moment_renderable, progress_line

STATUS: dict[str, Any] = {
    "factory": {"name": "demo-factory", "version": "0", "cycle": {"number": 7}},
    "schedds": [],
    "entries": [
        {
            "name": "CE_A",
            "health": "backoff",
            "backoff_until": "2026-01-01T00:10:00Z",
            "glideins": {"idle": 2, "running": 5, "held": 3, "black_hole": 1},
            "decisions": [{"matching_jobs": 40, "requested_idle": 0, "limited_by": ["backoff"]}],
        },
        {
            "name": "CE_B",
            "health": "ok",
            "backoff_until": None,
            "glideins": {"idle": 1, "running": 10, "held": 0, "black_hole": 0},
            "decisions": [{"matching_jobs": 12, "requested_idle": 4, "limited_by": ["ramp_up"]}],
        },
    ],
}


def moment() -> Moment:
    checks = DemoChecks(started=0.0)
    checks.submitted = {"CE_A": 8, "CE_B": 11}
    return Moment(
        elapsed=12.0, simulated=360.0, status=STATUS, checks=checks, base_url="http://h:1"
    )


def test_the_progress_line_sums_entries_and_names_those_in_backoff() -> None:
    line = progress_line(moment())
    assert line.startswith("[ 12s | sim +6m] cycle 7:")
    assert "demand 52, glideins idle 3 running 15 held 3" in line
    assert "submitted 19 to 2 entries" in line
    assert "in backoff: CE_A;" in line


def test_the_live_view_shows_the_urls_checks_and_every_entry() -> None:
    console = Console(record=True, width=200)
    console.print(moment_renderable(moment()))
    text = console.export_text()
    assert "viewer http://h:1/" in text
    assert "checks: ... glideins submitted to at least 3 entries" in text
    assert "backoff until 00:10:00" in text
    for name in ("CE_A", "CE_B", "ramp_up"):
        assert name in text
