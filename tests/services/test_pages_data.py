"""aglidein.services.pages_data: the status pages' numbers (entry rows, health reasons, exits, totals, accounting, history JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aglidein.core.model import EntryHealth
from aglidein.services.history import HistoryRecorder
from aglidein.services.pages_data import Accounting, entries_page, history_json
from aglidein.services.roster import GlideinRoster
from aglidein.store.history import RANGES, HistoryPoint, HistorySample, HistoryStore

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[HistoryRecorder]:
    store = HistoryStore(tmp_path / "history.db")
    store.open()
    yield HistoryRecorder(store, GlideinRoster())
    store.close()


def _entry(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "decisions": [], "glideins": {}, **fields}


STATUS: dict[str, Any] = {
    "factory": {"name": "fac", "cycle": {"number": 42, "started": "2027-01-15T07:59:00Z"}},
    "entries": [
        _entry(
            "A",
            health="backoff",
            backoff_until="2027-01-15T08:10:00Z",
            glideins={"idle": 2, "running": 7, "held": 1, "black_hole": 3},
            decisions=[
                {"matching_jobs": 40, "requested_idle": 5, "limited_by": ["backoff"]},
                {"matching_jobs": 0, "requested_idle": 0, "limited_by": ["no_demand"]},
            ],
        ),
        _entry("B", downtime={"comment": "CE upgrade", "end": "2027-01-16T00:00:00Z"}),
        _entry("C", downtime={"comment": "site", "group": "cms", "end": None}),
        _entry("D", health="disabled"),
        _entry("E", health="draining"),
        _entry("F", health="draining"),
    ],
}


async def test_entry_rows_health_reasons_exits_and_totals(recorder: HistoryRecorder) -> None:
    store = recorder.store
    store.record_sync(T0 - 7200, [HistoryPoint("entry", "A", exits={"ok": 5})])
    store.record_sync(
        T0 - 600,
        [
            HistoryPoint("entry", "A", exits={"ok": 1, "held": 2}),
            HistoryPoint("group", "cms", exits={"ok": 1}),
            HistoryPoint("factory", "", exits={"ok": 3}),
        ],
    )
    store.last_submit["A"] = T0 - 600
    recorder.latest = {("group", "cms"): HistoryPoint("group", "cms", running=7, demand=40)}
    health = {
        "A": EntryHealth("A", backoff_until=T0 + 600, last_failure_reason="hold_storm"),
        "F": EntryHealth("F", drain_hard=True),
    }
    page = await entries_page(STATUS, health, recorder, ["cms", "atlas"], T0)
    assert (page.factory_name, page.cycle, page.cycle_at) == ("fac", 42, "2027-01-15T07:59:00Z")
    assert page.with_accounting is False
    rows = {r.entry: r for r in page.entries}
    assert list(rows) == ["A", "B", "C", "D", "E", "F"]
    a = rows["A"]
    assert (a.health, a.reason, a.until) == ("backoff", "hold_storm", "2027-01-15T08:10:00Z")
    assert (a.demand, a.requested, a.idle, a.running, a.held, a.black_hole) == (40, 5, 2, 7, 1, 3)
    assert a.limited_by == ("backoff",)  # the group that wants the entry explains it
    assert a.last_submit == "2027-01-15T07:50:00Z"
    assert dict(a.exits_hour) == {"ok": 1, "held": 2}
    assert dict(a.exits_day) == {"ok": 6, "held": 2}
    assert a.accounting is None
    assert (rows["B"].health, rows["B"].reason, rows["B"].until) == (
        "downtime",
        "CE upgrade",
        "2027-01-16T00:00:00Z",
    )
    assert (rows["C"].reason, rows["C"].until) == ("site (group cms)", None)
    assert (rows["D"].health, rows["D"].reason) == ("disabled", "operator")
    assert (rows["E"].reason, rows["F"].reason) == ("operator", "hard drain")
    assert rows["B"].last_submit is None
    assert dict(rows["B"].exits_day) == {}
    cms, atlas = page.groups
    assert (cms.name, cms.demand, cms.running, dict(cms.exits_hour)) == ("cms", 40, 7, {"ok": 1})
    assert (atlas.name, atlas.demand, atlas.running) == ("atlas", 0, 0)
    assert dict(page.factory.exits_day) == {"ok": 3}
    document = page.as_json()
    assert document["cycle"] == {"number": 42, "at": "2027-01-15T07:59:00Z"}
    assert document["entries"][0]["glideins"] == {
        "idle": 2,
        "running": 7,
        "held": 1,
        "black_hole": 3,
    }
    assert document["entries"][0]["exits"]["1h"] == {"ok": 1, "held": 2}
    assert document["groups"][0]["group"] == "cms"
    assert "group" not in document["factory"]
    assert "accounting" not in document["entries"][0]


async def test_accounting_rows_are_summed_by_entry_group_and_factory(
    recorder: HistoryRecorder,
) -> None:
    rows: list[Any] = [
        {
            "group": "cms",
            "entry": "A",
            "glidein_hours": 2.0,
            "job_hours": 1.5,
            "badput_hours": 0.5,
            "validation_failures": 1,
            "since": "2027-01-15T06:00:00Z",
        },
        {
            "group": "atlas",
            "entry": "A",
            "glidein_hours": 1.0,
            "job_hours": None,
            "badput_hours": 1.0,
            "since": "2027-01-15T05:00:00Z",
        },
        {"group": "cms", "entry": "B", "glidein_hours": 0.25},
        "not a row",
    ]
    status = {**STATUS, "accounting": rows}
    page = await entries_page(status, {}, recorder, ["cms", "atlas", "lhcb"], T0)
    assert page.with_accounting is True
    by_entry = {r.entry: r.accounting for r in page.entries}
    assert by_entry["A"] == Accounting(3.0, 1.5, 1.5, 1, "2027-01-15T05:00:00Z")
    assert by_entry["B"] == Accounting(0.25, 0.0, 0.0, 0, None)
    assert by_entry["D"] == Accounting()
    groups = {g.name: g.accounting for g in page.groups}
    assert groups["cms"] == Accounting(2.25, 1.5, 0.5, 1, "2027-01-15T06:00:00Z")
    assert groups["lhcb"] == Accounting()
    assert page.factory.accounting == Accounting(3.25, 1.5, 1.5, 1, "2027-01-15T05:00:00Z")
    assert page.as_json()["factory"]["accounting"] == {
        "glidein_hours": 3.25,
        "job_hours": 1.5,
        "badput_hours": 1.5,
        "validation_failures": 1,
        "since": "2027-01-15T05:00:00Z",
    }


def test_accounting_plus_rounds_in_json() -> None:
    total = Accounting().plus({"glidein_hours": 1 / 3}).plus({"job_hours": "2"})
    assert total.as_json() == {
        "glidein_hours": 0.333,
        "job_hours": 2.0,
        "badput_hours": 0.0,
        "validation_failures": 0,
        "since": None,
    }


def test_history_json() -> None:
    span = RANGES["1h"]
    samples = [HistorySample(T0 - 60, 1 / 3, 2.0, 0.0, 0.0, 4.5, 1.0, 2, {"ok": 1})]
    assert history_json("group", "main", span, [], T0)["group"] == "main"
    assert history_json("entry", "A", span, samples, T0) == {
        "entry": "A",
        "range": "1h",
        "resolution_s": span.resolution,
        "start": "2027-01-15T07:00:00Z",
        "end": "2027-01-15T08:00:00Z",
        "points": [
            {
                "ts": "2027-01-15T07:59:00Z",
                "idle": 0.333,
                "running": 2.0,
                "held": 0.0,
                "black_hole": 0.0,
                "demand": 4.5,
                "requested": 1.0,
                "submitted": 2,
                "exits": {"ok": 1},
            }
        ],
    }
