"""A cut's JSON shape, as `plan --json` and `/api/v1/status` carry it."""

from __future__ import annotations

from aglidein.core.cuts import Cut
from aglidein.core.model import Decision


def test_a_cut_says_from_what_to_what() -> None:
    cut = Cut("entry.max_glideins", "submit", 45, 40, limit=50)
    assert cut.as_dict() == {
        "reason": "entry.max_glideins",
        "what": "submit",
        "from": 45,
        "to": 40,
        "limit": 50,
    }
    assert Cut("no_demand", "requested_idle", 0, 0, detail="why").as_dict()["detail"] == "why"


def test_a_decision_keeps_limited_by_and_adds_cuts() -> None:
    decision = Decision("g", "e", limited_by=("ramp_up",), cuts=(Cut("ramp_up", "x", 9, 3),))
    row = decision.as_dict()
    assert row["limited_by"] == ["ramp_up"]
    assert row["cuts"] == [{"reason": "ramp_up", "what": "x", "from": 9, "to": 3, "limit": None}]
