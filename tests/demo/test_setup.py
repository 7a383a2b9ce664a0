"""Preparing a demo: state dir, private key, a config with the demo's paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aglidein.demo.setup import default_demo_config, pilot_environment, prepare
from aglidein.errors import AglideinError


def test_the_shipped_demo_config_is_prepared_with_its_own_paths(tmp_path: Path) -> None:
    setup = prepare(default_demo_config(), tmp_path / "state", 18080)
    state = (tmp_path / "state").resolve()
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "POOL").stat().st_mode & 0o777 == 0o600
    config = setup.loaded.config
    assert config.factory.state_dir == str(state)
    assert config.pool.signing_key == str(state / "POOL")
    assert config.http.listen == ["127.0.0.1:18080"]
    assert Path(config.pool.simulate or "").is_file()
    assert setup.base_url == "http://127.0.0.1:18080"
    # what the brief of the demo promises: 3+ groups, ~8 entries, one of them local
    assert len(config.groups) >= 3
    assert len(config.entries) >= 8
    assert [e.name for e in config.entries if e.gridtype == "local"] == ["Local_Demo"]


def test_a_second_prepare_keeps_the_key(tmp_path: Path) -> None:
    prepare(default_demo_config(), tmp_path, 18080)
    key = (tmp_path / "POOL").read_bytes()
    prepare(default_demo_config(), tmp_path, 18081)
    assert (tmp_path / "POOL").read_bytes() == key


def test_a_relative_scenario_is_found_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = default_demo_config().read_text()
    conf = tmp_path / "elsewhere"
    conf.mkdir()
    (conf / "demo.yaml").write_text(text.replace("conf/demo-scenario.yaml", "scenario.yaml"))
    scenario = default_demo_config().parent / "demo-scenario.yaml"
    (conf / "scenario.yaml").write_text(scenario.read_text())
    monkeypatch.chdir(tmp_path)
    setup = prepare(conf / "demo.yaml", tmp_path / "state", 18080)
    assert setup.loaded.config.pool.simulate == str((conf / "scenario.yaml").resolve())
    data = yaml.safe_load((tmp_path / "state" / "aglidein.yaml").read_text())
    assert data["pool"]["simulate"] == str((conf / "scenario.yaml").resolve())


def test_a_missing_config_or_scenario_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AglideinError, match="no demo config"):
        prepare(tmp_path / "nope.yaml", tmp_path / "state", 18080)
    broken = tmp_path / "demo.yaml"
    broken.write_text(default_demo_config().read_text().replace("demo-scenario", "missing"))
    with pytest.raises(AglideinError, match="no such scenario file"):
        prepare(broken, tmp_path / "state", 18080)


def test_pilots_get_a_short_payload_unless_the_caller_chose_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLIDEIN_WORKLOAD", raising=False)
    env = pilot_environment(tmp_path)
    assert env["GLIDEIN_WORKLOAD"].endswith("demo-payload.sh")
    assert (tmp_path / "demo-payload.sh").is_file()
    monkeypatch.setenv("GLIDEIN_WORKLOAD", "sleep 1")
    assert pilot_environment(tmp_path)["GLIDEIN_WORKLOAD"] == "sleep 1"
