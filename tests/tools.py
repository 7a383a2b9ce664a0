"""System tools the tests run: the path on PATH, or a one-line failure naming the package."""

from __future__ import annotations

import shutil

import pytest

# tool → Debian/Ubuntu package; `make deps` (scripts/deps.sh) installs them.
PACKAGES = {
    "promtool": "prometheus",
    "chromium": "chromium",
    "systemd-analyze": "systemd",
    "git": "git",
}


def need(tool: str) -> str:
    """The path of `tool`; fails the test (never skips it) with one line when it is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is missing: run `make deps` (Debian/Ubuntu package {PACKAGES[tool]})",
            pytrace=False,
        )
    return path
