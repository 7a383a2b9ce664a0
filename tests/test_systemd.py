"""The unit file verifies and is hardened (exposure <= 2.5); systemd/install.sh, the README's
install, puts everything where the unit looks for it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import need

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = REPO / "systemd"
EXEC_START = "/opt/aglidein/bin/aglidein"


def unit_copy(tmp_path: Path) -> Path:
    # verify needs ExecStart's binary to exist: substitute one that does.
    text = (SYSTEMD / "aglidein.service").read_text().replace(EXEC_START, "/bin/true")
    path = tmp_path / "aglidein.service"
    path.write_text(text)
    return path


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", str(unit_copy(tmp_path))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_unit_exposure_is_low(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit_copy(tmp_path))],
        capture_output=True,
        text=True,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5


def test_unit_has_the_contract_settings() -> None:
    text = (SYSTEMD / "aglidein.service").read_text()
    for setting in (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=",
        "StateDirectory=aglidein",
        "LoadCredential=POOL:",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictNamespaces=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
        "_CONDOR_FS_LOCAL_DIR=",
    ):
        assert setting in text, setting
    sysusers = (SYSTEMD / "aglidein.sysusers.conf").read_text()
    assert sysusers.startswith("#")
    assert "u aglidein" in sysusers


def install(root: Path) -> subprocess.CompletedProcess[str]:
    """systemd/install.sh into the staging root `root`."""
    env = {**os.environ, "DESTDIR": str(root), "PYTHON": sys.executable}
    return subprocess.run(
        [str(SYSTEMD / "install.sh")], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A staging root after the README's install (a venv with aglidein: about a minute)."""
    need("systemd-analyze")  # systemd-sysusers and systemd-tmpfiles come with it
    root = tmp_path_factory.mktemp("root")
    result = install(root)
    assert result.returncode == 0, result.stderr
    return root


def group_id(root: Path, name: str) -> int:
    for line in (root / "etc" / "group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"no group {name} in {root}/etc/group")


def test_readme_installs_with_the_script() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Install as a systemd service") :]
    assert "sudo systemd/install.sh" in section[: section.index("\n### ", 1)]


@pytest.mark.timeout(900)
def test_unit_runs_what_install_put_there(installed: Path) -> None:
    unit = installed / "etc" / "systemd" / "system" / "aglidein.service"
    exec_start = re.search(r"^ExecStart=(\S+)", unit.read_text(), re.MULTILINE)
    assert exec_start
    assert exec_start.group(1) == EXEC_START
    binary = installed / EXEC_START.lstrip("/")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0, version.stderr
    # The installed unit verifies with its ExecStart at the staging root's path.
    staged = unit.read_text().replace(EXEC_START, str(binary))
    (installed / "verify.service").write_text(staged)
    result = subprocess.run(
        [need("systemd-analyze"), "verify", str(installed / "verify.service")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(900)
def test_the_service_user_can_read_the_config(installed: Path) -> None:
    passwd = (installed / "etc" / "passwd").read_text()
    assert re.search(r"^aglidein:x:\d+:(\d+):", passwd, re.MULTILINE)
    config = (installed / "etc" / "aglidein" / "aglidein.yaml").stat()
    assert (config.st_uid, config.st_gid) == (0, group_id(installed, "aglidein"))
    assert stat.S_IMODE(config.st_mode) == 0o640
    for directory in ("condor-fs", "creds"):
        assert (installed / "var" / "lib" / "aglidein" / directory).is_dir()
    venv = (installed / "opt" / "aglidein" / "bin" / "aglidein").stat()
    assert stat.S_IMODE(venv.st_mode) & 0o005 == 0o005  # others read and run it


@pytest.mark.timeout(900)
def test_rerunning_install_keeps_an_edited_config(installed: Path) -> None:
    config = installed / "etc" / "aglidein" / "aglidein.yaml"
    config.write_text("# edited\n")
    result = install(installed)
    assert result.returncode == 0, result.stderr
    assert config.read_text() == "# edited\n"
    assert "exists: kept" in result.stderr
