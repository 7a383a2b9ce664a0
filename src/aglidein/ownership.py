"""Who owns the glidein jobs, and the files they need.

The rule: aglidein runs as the Unix user that owns its glidein jobs on the factory
schedd. The schedd's gridmanager acts as that owner: it reads the pilot, the tarballs
and the per-glidein token files, and writes each glidein's output and the entry's
user log under `state_dir/glideins/`. HTCondor never lets root own a job, so a root
aglidein must name the owner in `factory.job_owner`; it then hands those files and
directories to that user (the state DB, log store and keys stay private to root).
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aglidein.config import Config
from aglidein.errors import AglideinError

__all__ = [
    "JobOwner",
    "expected_owner",
    "foreign_owners",
    "give",
    "resolve_job_owner",
    "unreachable_dir",
]


@dataclass(frozen=True, slots=True)
class JobOwner:
    """A Unix user other than the one aglidein runs as, who owns the glidein jobs."""

    name: str
    uid: int
    gid: int


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def resolve_job_owner(
    config: Config, *, euid: int | None = None, strict: bool = False
) -> JobOwner | None:
    """The owner to hand glidein files to; None when aglidein runs as that owner.

    Raises AglideinError when the rule cannot hold: a `job_owner` other than the current
    user when not root, an unknown user, and (`strict`, at start) root without
    `factory.job_owner`.
    """
    if config.pool.simulate is not None:
        return None
    euid = os.geteuid() if euid is None else euid
    wanted = config.factory.job_owner
    if wanted is None:
        if euid == 0 and strict:
            raise AglideinError(
                "aglidein runs as root, but HTCondor never lets root own a job: run it as "
                "the user that owns its glidein jobs, or set factory.job_owner to that user"
            )
        return None
    try:
        entry = pwd.getpwnam(wanted)
    except KeyError:
        raise AglideinError(f"factory.job_owner {wanted!r}: no such user") from None
    if entry.pw_uid == 0:
        raise AglideinError("factory.job_owner: root cannot own HTCondor jobs")
    if entry.pw_uid == euid:
        return None
    if euid != 0:
        raise AglideinError(
            f"factory.job_owner is {wanted!r} but aglidein runs as {_current_user()!r}: only "
            f"root can hand the glidein files to another user; run aglidein as {wanted!r}"
        )
    return JobOwner(name=wanted, uid=entry.pw_uid, gid=entry.pw_gid)


def expected_owner(config: Config) -> str:
    """The user name the glidein jobs should have as `Owner`."""
    return config.factory.job_owner or _current_user()


def foreign_owners(expected: str, owners: Iterable[object]) -> list[str]:
    """The job owners (sorted, unique) that differ from `expected`."""
    return sorted({str(o) for o in owners if isinstance(o, str) and o != expected})


def unreachable_dir(path: Path, owner: JobOwner) -> Path | None:
    """The first directory from `/` down to `path` that `owner` may not search, if any."""
    groups = set(os.getgrouplist(owner.name, owner.gid))
    for directory in (*reversed(path.parents), path):
        try:
            info = directory.stat()
        except OSError:
            return directory
        if info.st_uid == owner.uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return directory
    return None


def give(path: Path, owner: JobOwner | None) -> None:
    """Make `path` belong to `owner` (no-op when None)."""
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)
