"""Find HTCondor for the real-pool tests: `aglidein.condor.personal.release`, plus the
tests' own fallback, the newest `../shared/htcondor/htcondor-*.tar.gz` beside the
checkout (how CI and a fresh clone next to the shared directory get the daemons).

Order: `condor_master` on PATH, AGLIDEIN_CONDOR_TARBALL, then that fallback.
"""

from __future__ import annotations

from pathlib import Path

from aglidein.condor.personal.release import TARBALL_ENV, CondorRelease, named_tarball
from aglidein.condor.personal.release import find_release as _find_release

__all__ = ["HOW_TO_GET", "TARBALL_ENV", "CondorRelease", "find_release", "find_tarball"]

REPO = Path(__file__).resolve().parents[2]
HOW_TO_GET = (
    "no HTCondor: put condor_master on PATH, set AGLIDEIN_CONDOR_TARBALL=<htcondor-*.tar.gz>, "
    "or place ../shared/htcondor/htcondor-*.tar.gz beside the checkout"
)


def find_tarball() -> Path | None:
    """The tarball to unpack: AGLIDEIN_CONDOR_TARBALL, else the newest in ../shared/htcondor."""
    named = named_tarball()
    if named is not None:
        return named
    shared = REPO.parent / "shared" / "htcondor"
    candidates = sorted(shared.glob("htcondor-*.tar.gz")) if shared.is_dir() else []
    return candidates[-1] if candidates else None


def find_release() -> CondorRelease | None:
    """The HTCondor to run (PATH, AGLIDEIN_CONDOR_TARBALL, ../shared/htcondor), unpacked
    when needed; None when there is none."""
    return _find_release(find_tarball())
