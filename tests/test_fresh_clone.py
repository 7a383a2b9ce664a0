"""A clone of the repository, with nothing beside it, collects every test without an error.

What a newcomer (or CI) gets from `git clone`: only tracked files, no developers'
directories beside it, no untracked data. Collection imports every test module and helper, so a missing fixture
file or a path outside the repository read at import time shows here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import need

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_a_fresh_clone_collects_without_errors(tmp_path: Path) -> None:
    clone = tmp_path / "aglidein"
    cloned = subprocess.run(
        [need("git"), "clone", "--quiet", str(REPO), str(clone)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cloned.returncode == 0, cloned.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["aglidein"]  # nothing beside it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AGLIDEIN_"))}
    env["PYTHONPATH"] = str(clone / "src")  # the clone's package, not this checkout's
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "error" not in output.lower().splitlines()[-1], output
    # "N tests collected", or "N/M tests collected (K deselected)" when the pool tests are left out
    collected = re.search(r"^(\d+)(?:/\d+)? tests collected", output, re.MULTILINE)
    assert collected, output
    # The README's figure stays roughly true (update it when this fails).
    stated = re.search(r"`make test` runs its ~(\d+)\s+tests", (clone / "README.md").read_text())
    assert stated, "README.md states no test count"
    assert 0.75 <= int(collected.group(1)) / int(stated.group(1)) <= 1.25, collected.group(0)
