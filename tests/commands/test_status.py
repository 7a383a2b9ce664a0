from __future__ import annotations

import json

import pytest

from aglidein.cli import main
from aglidein.statusview import entry_rows
from tests.daemon_helpers import RunningDaemon


def test_status_table_from_a_running_daemon(
    daemon: RunningDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--url", daemon.base_url]) == 0
    out = capsys.readouterr().out
    assert "test-factory" in out
    assert "LOCAL1" in out
    assert main(["status", "--url", daemon.base_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["factory"]["name"] == "test-factory"


def test_entry_rows_sum_decisions_and_collect_reasons() -> None:
    status = {
        "entries": [
            {
                "name": "CE1",
                "health": "backoff",
                "backoff_until": "2026-11-26T01:00:00Z",
                "glideins": {"idle": 2, "running": 5, "held": 1, "black_hole": 0},
                "decisions": [
                    {
                        "matching_jobs": 10,
                        "requested_idle": 3,
                        "limited_by": ["ramp_up", "backoff"],
                    },
                    {"matching_jobs": 4, "requested_idle": 0, "limited_by": ["backoff"]},
                ],
            }
        ]
    }
    [row] = entry_rows(status)
    assert row["demand"] == 14
    assert row["requested"] == 3
    assert row["limited_by"] == ["ramp_up", "backoff"]
    assert row["running"] == 5


def test_rows_show_the_reasons_of_groups_that_want_the_entry() -> None:
    status = {
        "entries": [
            {
                "name": "CE1",
                "decisions": [
                    {"matching_jobs": 0, "requested_idle": 0, "limited_by": ["no_demand"]},
                    {"matching_jobs": 9, "requested_idle": 3, "limited_by": ["ramp_up"]},
                ],
            },
            {
                "name": "CE2",
                "decisions": [{"matching_jobs": 0, "limited_by": ["no_demand", "disabled"]}],
            },
        ]
    }
    first, second = entry_rows(status)
    assert first["limited_by"] == ["ramp_up"]
    assert second["limited_by"] == ["no_demand", "disabled"]


def test_status_table_shows_when_the_file_is_not_the_config_in_force() -> None:
    from io import StringIO

    from rich.console import Console

    from aglidein.statusview import status_renderable

    document = {
        "factory": {"name": "f"},
        "entries": [],
        "config": {
            "path": "/etc/aglidein/aglidein.yaml",
            "file_matches": False,
            "file_sha256": "ab",
            "in_force_sha256": "cd",
            "last_reload": {
                "at": "2026-12-07T04:00:00Z",
                "ok": False,
                "errors": ["aglidein.yaml:3: factory.bogus: unknown key", "another"],
            },
        },
    }
    out = StringIO()
    Console(file=out, width=200).print(status_renderable(document))
    text = out.getvalue()
    assert "/etc/aglidein/aglidein.yaml differs from the config in force" in text
    assert "factory.bogus: unknown key (+1 more)" in text
    document["config"] = {**document["config"], "file_matches": True}
    out = StringIO()
    Console(file=out, width=200).print(status_renderable(document))
    assert "differs" not in out.getvalue()
