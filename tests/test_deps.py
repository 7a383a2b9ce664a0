"""`make deps` (scripts/deps.sh): silent when all is there, apt-get as root on Debian, else one line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tools import PACKAGES

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "deps.sh"
# What the script itself runs, linked into a PATH that holds nothing else.
BASICS = ("bash", "sort", "tr", "sed", "grep")
FAKE_APT = """#!/bin/sh
echo "$*" >>"{log}"
case "$1" in install) for p in "$@"; do [ "$p" = prometheus ] && /bin/ln -s /bin/true "{bin}/promtool"; done;; esac
exit 0
"""


def make_variable(name: str) -> list[str]:
    """A `NAME := a b c` list from the Makefile."""
    match = re.search(rf"^{name} := (.*)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1).split()


def fake_bin(tmp_path: Path, tools: list[str], uid: int) -> Path:
    """The basics, `tools` (as /bin/true), an apt-get that logs its calls, `id -u` says `uid`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in BASICS:
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    for tool in tools:
        (bin_dir / tool).symlink_to("/bin/true")
    apt = bin_dir / "apt-get"
    apt.write_text(FAKE_APT.format(log=tmp_path / "apt.log", bin=bin_dir))
    apt.chmod(0o755)
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "id").chmod(0o755)
    return bin_dir


def run_deps(
    tmp_path: Path, tools: list[str], *args: str, os_id: str = "debian", uid: int = 0
) -> subprocess.CompletedProcess[str]:
    os_release = tmp_path / "os-release"
    os_release.write_text(f"ID={os_id}\n")
    env = {
        "PATH": str(fake_bin(tmp_path, tools, uid)),
        "VENV": str(REPO / ".venv"),
        "AGLIDEIN_OS_RELEASE": str(os_release),
    }
    return subprocess.run(
        ["/usr/bin/env", "bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_every_tool_the_tests_need_is_installed_by_make_deps() -> None:
    script = SCRIPT.read_text()
    for tool, package in PACKAGES.items():
        assert tool in make_variable("TEST_TOOLS"), tool
        assert f"[{tool}]={package}" in script, tool
    assert set(make_variable("DEMO_TOOLS")) <= set(make_variable("TEST_TOOLS"))


def test_all_present_is_silent_and_runs_no_apt(tmp_path: Path) -> None:
    result = run_deps(tmp_path, ["promtool", "curl"], "promtool", "curl")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert apt_calls(tmp_path) == []


def test_check_names_the_missing_packages_in_one_line(tmp_path: Path) -> None:
    result = run_deps(tmp_path, ["curl"], "--check", "promtool", "chromium", "curl")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "make deps: missing system packages, install them "
        "(as root: apt-get install chromium prometheus) and rerun"
    ]
    assert apt_calls(tmp_path) == []


def test_root_on_debian_installs_with_apt_get(tmp_path: Path) -> None:
    result = run_deps(tmp_path, [], "promtool")
    assert result.returncode == 0, result.stderr
    assert apt_calls(tmp_path) == [
        "update -qq",
        "install -y -qq --no-install-recommends prometheus",
    ]
    assert (tmp_path / "bin" / "promtool").exists()


@pytest.mark.parametrize(("os_id", "uid"), [("fedora", 0), ("debian", 1000)])
def test_not_root_or_not_debian_names_the_packages(tmp_path: Path, os_id: str, uid: int) -> None:
    result = run_deps(tmp_path, [], "promtool", os_id=os_id, uid=uid)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "apt-get install prometheus" in result.stderr
    assert apt_calls(tmp_path) == []


def test_a_failed_install_is_reported(tmp_path: Path) -> None:
    result = run_deps(tmp_path, [], "chromium")  # the fake apt-get installs prometheus only
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "make deps: still missing after apt-get install: chromium"
    )


def test_an_unknown_tool_is_refused(tmp_path: Path) -> None:
    result = run_deps(tmp_path, [], "frobnicate")
    assert result.returncode == 1
    assert "unknown tool 'frobnicate'" in result.stderr
