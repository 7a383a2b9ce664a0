"""`aglidein import-gwms`: YAML on stdout or -o, report on stderr, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aglidein.cli import main
from aglidein.config import load_config
from tests.gwms.helpers import GWMS

FIXTURE_ARGS = [
    str(GWMS / "glideinWMS.xml"),
    str(GWMS / "Dev_Sites.xml"),
    "--frontend",
    str(GWMS / "frontend.xml"),
]


def test_yaml_goes_to_stdout_and_the_report_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-gwms", *FIXTURE_ARGS]) == 0
    captured = capsys.readouterr()
    data = yaml.safe_load(captured.out)  # stdout holds only the config
    assert {e["name"] for e in data["entries"]} == {
        "TEST_ENTRY",
        "TEST_SITE_1",
        "TEST_SITE_2",
        "TEST_SITE_BOSCO",
    }
    assert "warning: entry TEST_ENTRY: imported disabled: gridtype 'gt2'" in captured.err
    assert "imported 4 entries: 3 enabled, 1 disabled" in captured.err
    assert "check-config: valid, 3 warnings" in captured.err


def test_output_file_passes_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aglidein.yaml"
    assert main(["import-gwms", *FIXTURE_ARGS, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"wrote {out}" in captured.err
    loaded = load_config(out)
    assert len(loaded.config.entries) == 4
    assert main(["check-config", str(out)]) == 0
    # 3 of the config (entries without credential) + 2 files not there (the proxy, the key)
    summary = capsys.readouterr().out
    assert "ok (1 groups, 4 entries, 1 credentials, 5 warnings, 2 of them files missing)" in summary


def test_malformed_xml_exits_1_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "Bad_Sites.xml"
    bad.write_text('<glidein>\n  <entries>\n    <entry name="A">\n  </entries>\n</glidein>\n')
    out = tmp_path / "out.yaml"
    assert main(["import-gwms", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"aglidein: {bad}:4: not well-formed XML: mismatched tag")
    assert "Traceback" not in err
    assert not out.exists()  # nothing half-written


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-gwms", str(tmp_path / "nope.xml")]) == 1
    assert "nope.xml: no such file" in capsys.readouterr().err


def test_unwritable_output_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-dir" / "out.yaml"
    assert main(["import-gwms", str(GWMS / "Dev_Sites.xml"), "-o", str(target)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_no_factory_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["import-gwms"])
    assert info.value.code == 2


def test_the_installed_command_has_no_traceback_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<glidein><entries></glidein>")
    proc = subprocess.run(
        [sys.executable, "-m", "aglidein", "import-gwms", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"{bad}:1: not well-formed XML" in proc.stderr
    assert "Traceback" not in proc.stderr
