"""The job-ownership rule: aglidein runs as the user that owns its glidein jobs, or as
root naming that user in `factory.job_owner` (then the files the gridmanager reads and
writes are handed to it)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from aglidein.config import Config, LoadedConfig, parse_config_text
from aglidein.core.submit import GlideinFiles
from aglidein.daemon import open_state_dir_to_owner, preflight
from aglidein.errors import AglideinError
from aglidein.ownership import JobOwner, foreign_owners, resolve_job_owner
from aglidein.services.glidein_files import PilotKit
from tests.adapter_helpers import placeholder_pilot

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="handing files to a user needs root")
NOBODY = pwd.getpwnam("nobody")


def loaded(tmp_path: Path, factory_extra: str = "", pool_extra: str = "") -> LoadedConfig:
    key = tmp_path / "POOL"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    text = (
        f"factory:\n  name: f\n  state_dir: {tmp_path / 'state'}\n{factory_extra}"
        f"pool:\n  collector: 127.0.0.1:9618\n  trust_domain: t.org\n  signing_key: {key}\n"
        f"{pool_extra}"
        "entries:\n  - name: CE\n    gridtype: condor\n    gatekeeper: ce.org ce.org:9619\n"
        "    auth: {method: idtoken}\n    attrs: {GLIDEIN_Site: S}\n"
    )
    return parse_config_text(text)


def config(tmp_path: Path, factory_extra: str = "", pool_extra: str = "") -> Config:
    return loaded(tmp_path, factory_extra, pool_extra).config


def test_root_without_job_owner_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(AglideinError, match=r"never lets root own a job.*factory\.job_owner"):
        resolve_job_owner(config(tmp_path), euid=0, strict=True)
    # services that run after the start check do not repeat it
    assert resolve_job_owner(config(tmp_path), euid=0) is None


def test_running_as_the_owner_needs_nothing(tmp_path: Path) -> None:
    assert resolve_job_owner(config(tmp_path), euid=1234, strict=True) is None
    named = config(tmp_path, "  job_owner: nobody\n")
    assert resolve_job_owner(named, euid=NOBODY.pw_uid, strict=True) is None


def test_root_names_the_owner(tmp_path: Path) -> None:
    owner = resolve_job_owner(config(tmp_path, "  job_owner: nobody\n"), euid=0, strict=True)
    assert owner == JobOwner("nobody", NOBODY.pw_uid, NOBODY.pw_gid)


def test_only_root_can_hand_files_to_another_user(tmp_path: Path) -> None:
    with pytest.raises(AglideinError, match="only root can hand the glidein files"):
        resolve_job_owner(config(tmp_path, "  job_owner: nobody\n"), euid=4321)


def test_unknown_or_root_owner_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AglideinError, match="no such user"):
        resolve_job_owner(config(tmp_path, "  job_owner: no-such-user-x\n"), euid=0)
    with pytest.raises(AglideinError, match="root cannot own"):
        resolve_job_owner(config(tmp_path, "  job_owner: root\n"), euid=0)


def test_the_simulated_pool_has_no_owner(tmp_path: Path) -> None:
    simulated = config(tmp_path, pool_extra="  simulate: scenario.yaml\n")
    assert resolve_job_owner(simulated, euid=0, strict=True) is None


def test_foreign_owners_lists_the_others() -> None:
    assert foreign_owners("alice", ["alice", "bob", None, "carol", "bob"]) == ["bob", "carol"]


@ROOT_ONLY
def test_pilot_files_and_tokens_go_to_the_owner(tmp_path: Path) -> None:
    cfg = config(tmp_path, "  job_owner: nobody\n")
    owner = resolve_job_owner(cfg)
    kit = PilotKit(tmp_path / "state", placeholder_pilot(tmp_path), owner=owner)
    files = kit.pilot_files(cfg.entries[0])

    def writer(c: Config, e: object, gid: str, d: Path, now: float) -> tuple[Path, Path]:
        paths = (d / f"{gid}.idtoken", d / f"{gid}.logtoken")
        for path in paths:
            path.write_text("t")
            path.chmod(0o600)
        return paths

    [written] = kit.write_tokens(writer, cfg, cfg.entries[0], ["g1"], 0.0)
    assert written == GlideinFiles("g1", *(str(p) for p in writer_paths(kit, "g1")))
    entry_dir = kit.entry_dir("CE")
    for path in (
        Path(files.startup),
        Path(files.tarball),
        Path(files.attrs_file),
        entry_dir,
        entry_dir / "tokens",
        *writer_paths(kit, "g1"),
    ):
        assert path.stat().st_uid == NOBODY.pw_uid, path
    assert (entry_dir / "tokens").stat().st_mode & 0o777 == 0o700


def writer_paths(kit: PilotKit, glidein: str) -> tuple[Path, Path]:
    tokens = kit.entry_dir("CE") / "tokens"
    return tokens / f"{glidein}.idtoken", tokens / f"{glidein}.logtoken"


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory under /tmp that others may search (pytest's tmp_path is root's 0700)."""
    path = Path(tempfile.mkdtemp(prefix="aglidein-owner-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@ROOT_ONLY
def test_start_opens_state_dir_to_the_owner_group_only(open_dir: Path) -> None:
    config = loaded(open_dir, "  job_owner: nobody\n")
    preflight(config)
    open_state_dir_to_owner(config.config)
    info = (open_dir / "state").stat()
    assert info.st_gid == NOBODY.pw_gid
    assert info.st_mode & 0o777 == 0o710


@ROOT_ONLY
def test_start_says_when_the_owner_cannot_reach_state_dir(open_dir: Path) -> None:
    private = open_dir / "private"
    private.mkdir(mode=0o700)
    with capture_logs() as logs:
        config = loaded(private, "  job_owner: nobody\n")
        preflight(config)
        open_state_dir_to_owner(config.config)
    [event] = [e for e in logs if e["event"] == "ownership.state_dir_unreachable"]
    assert event["blocked"] == str(private)
    assert event["mode"] == "0700"
    assert event["job_owner"] == "nobody"


@ROOT_ONLY
def test_start_as_root_without_owner_says_the_rule(tmp_path: Path) -> None:
    with pytest.raises(AglideinError, match="user that owns its glidein jobs"):
        preflight(loaded(tmp_path))
