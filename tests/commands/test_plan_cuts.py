"""`aglidein plan` says what every rule cut, from what, to what, and why there is no
demand (offline, on the GlideinWMS fixture dump)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aglidein.cli import main
from tests.commands.test_plan import CONFIG, JOBS, plan_json
from tests.conftest import FIXTURES


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


def test_old_factory_glideins_in_a_startd_dump_count_against_entry_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONFIG.read_text().replace(
        "    attrs: {GLIDEIN_Site: Site_Name1, GLIDEIN_CPUS: 8}\n  - name: CE_Site2",
        "    attrs: {GLIDEIN_Site: Site_Name1, GLIDEIN_CPUS: 8}\n"
        "    limits: {max_glideins: 1}\n    gwms_names: [Site_Name1]\n  - name: CE_Site2",
    )
    config = tmp_path / "migrating.yaml"
    config.write_text(text + "migration: {gwms_factory: factory1}\n")
    startds = str(FIXTURES / "classads" / "collector-startds.json")
    argv = ["plan", "--config", str(config), "--jobs", str(JOBS), "--startds", startds]
    assert main([*argv, "--json"]) == 0
    rows = {d["entry"]: d for d in json.loads(capsys.readouterr().out)["decisions"]}
    site1 = rows["CE_Site1"]
    assert (site1["old_glideins"], site1["submit"]) == (1, 0)  # its one glidein: no room
    cut = next(c for c in site1["cuts"] if c["reason"] == "entry.max_glideins")
    assert (cut["from"], cut["to"], cut["limit"]) == (4, 0, 1)
    assert cut["detail"] == "1 of the old factory's glideins counted"
    assert rows["CE_Site2"]["old_glideins"] == 0  # no gwms_names: matched by its own name
    assert main(argv) == 0
    assert "entry.max_glideins (1 of the old factory's glideins counted): 4 → 0" in (
        capsys.readouterr().out
    )
