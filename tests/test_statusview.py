"""The status text: one row per entry, the reasons of the groups that want it, a line
when the config on disk is not the one in force."""

from __future__ import annotations

from rich.console import Console

from aglidein.statusview import config_drift, entry_rows, status_renderable

STATUS = {
    "factory": {"name": "f", "version": "1", "cycle": {"number": 4, "duration_s": 0.5}},
    "entries": [
        {
            "name": "CE_A",
            "health": "backoff",
            "backoff_until": "2026-12-07T08:00:00Z",
            "glideins": {"idle": 2, "running": 3, "held": 1},
            "decisions": [
                {"matching_jobs": 5, "requested_idle": 2, "limited_by": ["ramp_up"]},
                {"matching_jobs": 0, "requested_idle": 0, "limited_by": ["no_demand"]},
            ],
        }
    ],
    "schedds": [{"name": "s1", "group": "main", "ok": False, "last_error": "timeout"}],
    "credentials": [{"name": "proxy", "type": "x509", "expires": "2026-12-08T00:00:00Z"}],
}


def test_an_entry_row_sums_its_groups_and_keeps_the_wanting_groups_reasons() -> None:
    (row,) = entry_rows(STATUS)
    assert (row["demand"], row["requested"], row["idle"], row["running"]) == (5, 2, 2, 3)
    assert row["limited_by"] == ["ramp_up"]  # not the no_demand of the group that wants none


def test_config_drift_says_what_to_do() -> None:
    assert config_drift(STATUS) is None
    drifted = {"config": {"file_matches": False, "path": "/etc/a.yaml", "file_sha256": "x"}}
    assert config_drift(drifted) == (
        "config: /etc/a.yaml differs from the config in force (run aglidein reload)"
    )
    refused = {
        "config": {
            **drifted["config"],
            "last_reload": {"ok": False, "at": "T", "errors": ["e1", "e2"]},
        }
    }
    assert config_drift(refused) == (
        "config: /etc/a.yaml differs from the config in force; the last reload (T) was"
        " refused: e1 (+1 more)"
    )


def test_the_whole_view_renders_entries_schedds_and_credentials() -> None:
    console = Console(width=200, record=True, color_system=None)
    console.print(status_renderable(STATUS))
    text = console.export_text()
    assert "f  aglidein 1  cycle 4 (0.50s)" in text
    assert "backoff until 08:00:00" in text
    assert "timeout" in text
    assert "proxy" in text
