"""Scenario files for the simulated pool: read with durations, refused with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from aglidein.condor.scenario import EntryBehaviour, load_scenario
from aglidein.errors import ConfigError


def test_a_scenario_reads_with_durations_defaults_and_outages(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "schedds:\n"
        "  - name: s1\n"
        "    jobs: [{count: 5, run_time: 2h}]\n"
        "    arrivals: [{count: 1, every: 10m}]\n"
        "entries:\n"
        "  default: {queue_time: 1m}\n"
        "  CE_A:\n"
        "    outages: [{start: 1h, end: 2h}]\n"
    )
    scenario = load_scenario(path)
    assert scenario.schedds[0].jobs[0].run_time == 7200
    assert scenario.schedds[0].arrivals[0].every == 600
    assert scenario.behaviour("CE_B").queue_time == 60  # the default entry
    ce_a = scenario.behaviour("CE_A")
    assert ce_a.outage_at(3600) is not None
    assert ce_a.outage_at(7200) is None
    assert load_scenario(tmp_path / "s.yaml").behaviour("x") == scenario.behaviour("x")
    assert isinstance(scenario.behaviour("x"), EntryBehaviour)


def test_an_empty_scenario_is_a_pool_with_no_users(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_scenario(path).schedds == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("schedds: [{name: s1, jobs: [{count: -1}]}]", "schedds.0.jobs.0.count"),
        ("entries: {A: {queue_tme: 1m}}", "entries.A.queue_tme"),
        ("schedds: [", "not valid YAML"),
    ],
)
def test_a_bad_scenario_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_scenario(path)
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(tmp_path / "missing.yaml")
