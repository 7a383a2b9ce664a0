"""The unit file verifies and is hardened (exposure <= 2.5)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.tools import need

SYSTEMD = Path(__file__).resolve().parents[1] / "systemd"


def unit_copy(tmp_path: Path) -> Path:
    # verify needs ExecStart's binary to exist: substitute one that does.
    text = (SYSTEMD / "aglidein.service").read_text().replace("/usr/bin/aglidein", "/bin/true")
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
