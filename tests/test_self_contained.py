"""The repository tests itself: nothing in it reads the developers' shared directory beside our checkouts.

A fresh clone has no `shared/` beside it, so a test, benchmark, script or doc that points
there breaks for every newcomer. The one exception is the real-pool harness
(`tests/realpool/*.py`), whose documented fallback is the HTCondor tarball under
`shared/htcondor`.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

from tests.tools import need

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()
# the parent path to it, its fixtures path, a pathlib join onto it, or the old override variable.
# The name is assembled so this checker names no path outside the repository itself.
NAME = "sha" + "red"
UP = "../" + NAME
PATTERN = re.compile(
    rf"\.\./{NAME}\b|\b{NAME}/fixtures\b|/\s*[\"']{NAME}[\"']|AGLIDEIN_{NAME.upper()}"
)
# The one exception: the HTCondor tarball, which the pool harness may fall back to and
# `.ci/run` checks for (the pool tests must run in CI).
ALLOWED = (("tests/realpool/*", "htcondor"), (".ci/run", "htcondor"))


def repo_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore (so a new file is checked too)."""
    listing = subprocess.run(
        [need("git"), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listing.split("\0") if name})


def allowed(path: str, text: str, start: int) -> bool:
    """Whether the match at `start` is the real-pool harness's documented tarball fallback."""
    return any(
        fnmatch.fnmatch(path, pattern) and suffix in text[start : start + 40]
        for pattern, suffix in ALLOWED
    )


def references(path: str, text: str) -> list[str]:
    """`path:line: text` for every reference to shared/ that is not allowed."""
    found = []
    for match in PATTERN.finditer(text):
        if not allowed(path, text, match.start()):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path}:{line}: {text.splitlines()[line - 1].strip()}")
    return found


def test_nothing_references_shared() -> None:
    bad = []
    for path in repo_files():
        if path == THIS or not (REPO / path).is_file():
            continue
        bad += references(path, (REPO / path).read_bytes().decode("utf-8", "replace"))
    assert not bad, f"references to {UP} (copy the file into the repo):\n" + "\n".join(bad)


def test_the_check_finds_references_and_allows_the_tarball_fallback() -> None:
    assert references("tests/conftest.py", f'x = REPO.parent / "{NAME}"\ny = "{UP}/x"\n') == [
        f'tests/conftest.py:1: x = REPO.parent / "{NAME}"',
        f'tests/conftest.py:2: y = "{UP}/x"',
    ]
    assert references("README.md", f"see {NAME}/fixtures/classads") != []
    assert references("tests/realpool/conftest.py", f'T = "{UP}/htcondor/x.tar.gz"') == []
    assert references("tests/realpool/conftest.py", f'T = "{UP}/fixtures"') != []
    assert references("tests/test_x.py", f'T = "{UP}/htcondor/x.tar.gz"') != []
