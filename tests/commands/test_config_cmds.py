"""`aglidein check-config` and `aglidein config schema/reference`: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aglidein.cli import main
from tests.conftest import MINIMAL_CONFIG


def _valid(tmp_path: Path, key: Path) -> Path:
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        MINIMAL_CONFIG.format(state_dir=tmp_path / "state", closed_port=1, key=key, http_port=0)
        + "groups:\n  - name: main\n    schedds: [s1]\n    match: 'true'\n"
        + "entries:\n  - name: LOCAL1\n    gridtype: local\n"
    )
    return config


def test_a_valid_config_is_ok_with_its_counts(
    tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _valid(tmp_path, signing_key)
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{config}: ok (1 groups, 1 entries, 0 credentials, ")
    assert "files missing" not in out


def test_a_missing_signing_key_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _valid(tmp_path, tmp_path / "no-such-key")
    assert main(["check-config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "files missing" in captured.out
    assert "warning:" in captured.err
    assert "no-such-key" in captured.err


def test_an_invalid_config_lists_its_errors_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("factory:\n  name: 7\nnot_a_section: 1\n")
    assert main(["check-config", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert errors
    assert any("not_a_section" in line for line in errors)


def test_config_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "factory" in schema["properties"]
    assert "entries" in schema["properties"]


def test_config_reference_renders_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "reference"]) == 0
    out = capsys.readouterr().out
    assert "|" in out
    assert "factory" in out


def test_config_reference_names_a_missing_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["config", "reference", "--example", str(missing)]) == 1
    assert f"{missing}: no such example config" in capsys.readouterr().err


def test_config_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config"])
    assert exc.value.code == 2
    assert "ACTION" in capsys.readouterr().err


def test_the_summary_counts_every_warning_printed_missing_files_included(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _valid(tmp_path, tmp_path / "no-such-key")
    # a warning of the config's own: an attribute no entry has
    config.write_text(config.read_text().replace("match: 'true'", "match: 'TARGET.Nowhere'"))
    assert main(["check-config", str(config)]) == 0
    captured = capsys.readouterr()
    printed = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert any("no-such-key: no such file" in line for line in printed)
    assert len(printed) >= 2
    assert f"{len(printed)} warnings, 1 of them files missing)" in captured.out


def test_check_config_takes_the_file_as_config_like_the_other_commands(
    tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _valid(tmp_path, signing_key)
    assert main(["check-config", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith(f"{config}: ok (1 groups, 1 entries, ")


def test_check_config_wants_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check-config"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["check-config", "a.yaml", "--config", "b.yaml"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
