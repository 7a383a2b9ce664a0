"""aglidein.services.status_rows: the status document read as entry rows and cut texts."""

from __future__ import annotations

from typing import Any

from aglidein.services.status_rows import cut_text, entry_rows, explained


def test_cut_text_reason_detail_amounts_and_submit() -> None:
    assert cut_text({"reason": "no_demand", "from": 0, "to": 0}) == "no_demand"
    assert (
        cut_text({"reason": "downtime", "detail": "CE upgrade", "from": 20, "to": 0})
        == "downtime (CE upgrade): 20 → 0"
    )
    assert (
        cut_text({"reason": "entry.max_glideins", "from": 45, "to": 40, "what": "submit"})
        == "entry.max_glideins: 45 → 40 at submit"
    )
    # `at submit` only when the amount changed
    assert cut_text({"reason": "x", "from": 3, "to": 3, "what": "submit"}) == "x"
    assert cut_text({}) == "?"


def test_explained_prefers_cuts_and_falls_back_to_limited_by() -> None:
    with_cuts = {
        "cuts": [{"reason": "entry.max_idle", "from": 5, "to": 2}, "not a cut"],
        "limited_by": ["entry.max_idle"],
    }
    assert explained(with_cuts) == ["entry.max_idle: 5 → 2"]
    assert explained({"cuts": [], "limited_by": ["group.max_running"]}) == ["group.max_running"]
    assert explained({"limited_by": ["a", "b"]}) == ["a", "b"]
    assert explained({}) == []


def test_entry_rows_sum_decisions_and_take_reasons_of_wanting_groups() -> None:
    status: dict[str, Any] = {
        "entries": [
            {
                "name": "CE_A",
                "health": "backoff",
                "backoff_until": 123.0,
                "glideins": {"idle": 2, "running": "3", "held": 1},
                "downtime": {"reason": "upgrade"},
                "decisions": [
                    {
                        "matching_jobs": 10,
                        "requested_idle": 4,
                        "limited_by": ["entry.max_idle"],
                        "cuts": [{"reason": "entry.max_idle", "from": 6, "to": 4}],
                    },
                    {
                        "matching_jobs": 0,
                        "requested_idle": 0,
                        "limited_by": ["no_demand"],
                    },
                    {
                        "matching_jobs": 5,
                        "requested_idle": 1,
                        "limited_by": ["entry.max_idle", "group.max_running"],
                    },
                ],
            },
            {
                "name": "CE_B",
                "decisions": [{"matching_jobs": 0, "limited_by": ["no_demand"]}],
            },
        ]
    }
    first, second = entry_rows(status)
    assert first == {
        "entry": "CE_A",
        "health": "backoff",
        "backoff_until": 123.0,
        "demand": 15,
        "requested": 5,
        "idle": 2,
        "running": 3,
        "held": 1,
        "black_hole": 0,
        "limited_by": ["entry.max_idle", "group.max_running"],
        "explained": ["entry.max_idle: 6 → 4", "entry.max_idle", "group.max_running"],
        "downtime": {"reason": "upgrade"},
    }
    # no group wants CE_B: its row explains itself with every decision's reasons
    assert second["entry"] == "CE_B"
    assert second["health"] == "ok"
    assert second["limited_by"] == ["no_demand"]
    assert second["explained"] == ["no_demand"]
    assert (second["demand"], second["requested"], second["idle"]) == (0, 0, 0)
    assert second["downtime"] is None


def test_entry_rows_of_an_empty_status() -> None:
    assert entry_rows({}) == []
    assert entry_rows({"entries": []}) == []
