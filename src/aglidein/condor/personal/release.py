"""Find an HTCondor release to run a personal pool from, unpacking a tarball once.

Order: `condor_master` on PATH, then the tarball the caller names (`--condor-tarball`),
then the one named by AGLIDEIN_CONDOR_TARBALL. A tarball is unpacked once into a cache
directory keyed by its sha256 (AGLIDEIN_CONDOR_CACHE, default
`/var/tmp/aglidein-condor` as root, `~/.cache/aglidein-condor` otherwise) and reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "HOW_TO_GET",
    "TARBALL_ENV",
    "CondorRelease",
    "find_release",
    "named_tarball",
    "unpack",
]

TARBALL_ENV = "AGLIDEIN_CONDOR_TARBALL"
CACHE_ENV = "AGLIDEIN_CONDOR_CACHE"
HOW_TO_GET = (
    "no HTCondor: put condor_master on PATH, or pass --condor-tarball "
    "<htcondor-*.tar.gz> (or set AGLIDEIN_CONDOR_TARBALL), a release tarball from "
    "https://htcondor.org/downloads/"
)


@dataclass(frozen=True, slots=True)
class CondorRelease:
    """An HTCondor installation: `bin/` and `sbin/` under one root, or a split install."""

    bin: Path
    sbin: Path
    origin: str  # "PATH", or the tarball it was unpacked from
    lib: Path | None = None  # None: RELEASE_DIR/lib
    libexec: Path | None = None  # None: RELEASE_DIR/libexec

    @property
    def version(self) -> str:
        """`$CondorVersion: 25.13.2 ... $` as condor_version prints it (first line)."""
        out = subprocess.run(
            [str(self.bin / "condor_version")], capture_output=True, text=True, check=False
        ).stdout
        return out.splitlines()[0] if out else "unknown"

    @property
    def release_dir(self) -> Path:
        """The RELEASE_DIR to configure (the parent of `sbin`)."""
        return self.sbin.parent


def named_tarball(tarball: Path | None = None) -> Path | None:
    """`tarball` if given, else AGLIDEIN_CONDOR_TARBALL; FileNotFoundError if it names
    no file."""
    if tarball is None:
        named = os.environ.get(TARBALL_ENV)
        if not named:
            return None
        tarball, source = Path(named), f"{TARBALL_ENV}={named}"
    else:
        source = str(tarball)
    if not tarball.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    return tarball


def find_release(tarball: Path | None = None) -> CondorRelease | None:
    """The HTCondor to run: `condor_master` on PATH, else `tarball` (or
    AGLIDEIN_CONDOR_TARBALL) unpacked into the cache; None when there is none."""
    master = shutil.which("condor_master")
    if master:
        sbin = Path(master).resolve().parent
        tool = shutil.which("condor_status")
        bin_dir = Path(tool).resolve().parent if tool else sbin.parent / "bin"
        lib, libexec = _installed_dirs(bin_dir)
        return CondorRelease(bin=bin_dir, sbin=sbin, origin="PATH", lib=lib, libexec=libexec)
    found = named_tarball(tarball)
    if found is None:
        return None
    root = unpack(found, _cache_dir())
    return CondorRelease(bin=root / "bin", sbin=root / "sbin", origin=str(found))


def _installed_dirs(bin_dir: Path) -> tuple[Path | None, Path | None]:
    """LIB and LIBEXEC of a system install, as its own config says (a distribution puts
    them under e.g. /usr/lib/condor and /usr/libexec/condor, not RELEASE_DIR)."""
    found: list[Path | None] = []
    for knob in ("LIB", "LIBEXEC"):
        try:
            done = subprocess.run(
                [str(bin_dir / "condor_config_val"), knob],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            done = None
        value = done.stdout.strip() if done is not None and done.returncode == 0 else ""
        found.append(Path(value) if value and Path(value).is_dir() else None)
    return found[0], found[1]


def _cache_dir() -> Path:
    named = os.environ.get(CACHE_ENV)
    if named:
        return Path(named)
    if os.geteuid() == 0:
        # the daemons run as an unprivileged user who cannot enter /root
        return Path("/var/tmp/aglidein-condor")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aglidein-condor"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(tarball: Path, cache: Path) -> Path:
    """The unpacked release root for `tarball` under `cache` (unpacked on first use)."""
    root = cache / _sha256(tarball)[:16]
    if (root / "sbin" / "condor_master").is_file():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        with tarfile.open(tarball) as tar:
            if hasattr(tarfile, "tar_filter"):  # Python >= 3.11.4
                tar.extractall(staging, filter="tar")
            else:  # pragma: no cover - older 3.11 (e.g. Debian 12's 3.11.2)
                tar.extractall(staging)  # a release tarball the operator named
        (top,) = [p for p in staging.iterdir() if p.is_dir()] or [staging]
        top.chmod(0o755)
        try:
            top.rename(root)  # atomic: a concurrent session either wins or finds it there
        except OSError:
            if not (root / "sbin" / "condor_master").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
