"""`aglidein plan` says what every rule cut, from what, to what, and why there is no
demand (offline, on the GlideinWMS fixture dump)."""

from __future__ import annotations

import pytest

from aglidein.cli import main
from tests.commands.test_plan import CONFIG, JOBS, plan_json


def test_cuts_carry_amounts_and_no_demand_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {d["entry"]: d for d in plan_json(capsys, "--jobs", str(JOBS))["decisions"]}
    (no_demand,) = rows["CE_Site3"]["cuts"]
    assert no_demand == {
        "reason": "no_demand",
        "what": "requested_idle",
        "from": 0,
        "to": 0,
        "limit": None,
        "detail": "7 idle jobs passed job_constraint, none matches",
    }
    site1 = rows["CE_Site1"]
    assert [c["reason"] for c in site1["cuts"]] == site1["limited_by"]
    for cut in site1["cuts"]:
        assert cut["from"] >= cut["to"]
    disabled = next(c for c in rows["CE_Site1_off"]["cuts"] if c["reason"] == "disabled")
    assert disabled["to"] == 0


def test_the_table_shows_the_amounts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", str(CONFIG), "--jobs", str(JOBS)]) == 0
    out = capsys.readouterr().out
    assert "no_demand (7 idle jobs passed job_constraint, none matches)" in out
    assert "ramp_up: 4 → 1" in out


def test_plan_needs_a_config_or_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--jobs", str(JOBS)]) == 1
    assert "--config FILE, or --url URL" in capsys.readouterr().err
