"""Finding HTCondor: condor_master on PATH (with a split install's LIB/LIBEXEC), else a
named tarball unpacked once into the cache; errors for a tarball that is not there."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from aglidein.condor.personal.release import (
    CACHE_ENV,
    TARBALL_ENV,
    CondorRelease,
    find_release,
    named_tarball,
    unpack,
)


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _tarball(path: Path, top: str = "condor-25.0.0-x86_64") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name in ("sbin/condor_master", "bin/condor_status"):
            data = b"#!/bin/sh\n"
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No HTCondor on PATH, no tarball in the environment, the cache under tmp_path."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv(TARBALL_ENV, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return bin_dir


def test_nothing_found_is_none(empty_path: Path) -> None:
    assert named_tarball() is None
    assert find_release() is None


def test_a_named_tarball_that_is_not_there(empty_path: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.tar\.gz: no such file"):
        named_tarball(tmp_path / "nope.tar.gz")
    with pytest.raises(FileNotFoundError, match=r"nope\.tar\.gz: no such file"):
        find_release(tmp_path / "nope.tar.gz")


def test_a_tarball_from_the_environment_is_named_in_the_error(
    empty_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TARBALL_ENV, str(tmp_path / "gone.tgz"))
    with pytest.raises(FileNotFoundError, match=f"{TARBALL_ENV}=.*gone.tgz: no such file"):
        named_tarball()
    tarball = _tarball(tmp_path / "htcondor.tar.gz")
    monkeypatch.setenv(TARBALL_ENV, str(tarball))
    assert named_tarball() == tarball
    assert named_tarball(tarball) == tarball


def test_condor_on_path_wins_with_its_own_lib_and_libexec(empty_path: Path, tmp_path: Path) -> None:
    lib = tmp_path / "usr" / "lib" / "condor"
    lib.mkdir(parents=True)
    install = tmp_path / "usr"
    _script(install / "sbin" / "condor_master", "exit 0")
    _script(
        install / "bin" / "condor_config_val",
        f'[ "$1" = LIB ] && echo {lib}; [ "$1" = LIBEXEC ] && echo /no/such/dir; exit 0',
    )
    _script(install / "bin" / "condor_status", "exit 0")
    (empty_path / "condor_master").symlink_to(install / "sbin" / "condor_master")
    (empty_path / "condor_status").symlink_to(install / "bin" / "condor_status")
    release = find_release(_tarball(tmp_path / "ignored.tar.gz"))
    assert release == CondorRelease(
        bin=install / "bin", sbin=install / "sbin", origin="PATH", lib=lib, libexec=None
    )
    assert release.release_dir == install


def test_condor_master_alone_on_path_finds_bin_beside_sbin(
    empty_path: Path, tmp_path: Path
) -> None:
    master = _script(tmp_path / "opt" / "sbin" / "condor_master", "exit 0")
    (empty_path / "condor_master").symlink_to(master)
    release = find_release()
    assert release is not None
    assert release.bin == tmp_path / "opt" / "bin"
    assert release.lib is None  # no condor_config_val to ask
    assert release.libexec is None


def test_a_tarball_is_unpacked_once_into_the_cache(empty_path: Path, tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "htcondor.tar.gz")
    release = find_release(tarball)
    assert release is not None
    root = release.sbin.parent
    assert root.parent == tmp_path / "cache"
    assert (root / "sbin" / "condor_master").is_file()
    assert release.bin == root / "bin"
    assert release.origin == str(tarball)
    (root / "marker").write_text("still the first unpack")
    assert unpack(tarball, tmp_path / "cache") == root
    assert (root / "marker").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [root.name]  # no staging left


def test_a_different_tarball_gets_its_own_directory(tmp_path: Path) -> None:
    first = unpack(_tarball(tmp_path / "a.tar.gz", top="a"), tmp_path / "cache")
    second = unpack(_tarball(tmp_path / "b.tar.gz", top="b"), tmp_path / "cache")
    assert first != second
    assert (second / "bin" / "condor_status").is_file()


def test_a_file_that_is_not_a_tarball_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball at all")
    with pytest.raises(tarfile.TarError):
        unpack(bad, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_version_is_the_first_line_of_condor_version(tmp_path: Path) -> None:
    _script(tmp_path / "bin" / "condor_version", "echo '$CondorVersion: 25.0.0 $'; echo more")
    release = CondorRelease(bin=tmp_path / "bin", sbin=tmp_path / "sbin", origin="PATH")
    assert release.version == "$CondorVersion: 25.0.0 $"
    _script(tmp_path / "bin" / "condor_version", "exit 1")
    assert release.version == "unknown"
