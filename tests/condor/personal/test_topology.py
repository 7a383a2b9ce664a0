"""The VO pool + site pair without daemons: its grid_resource/gatekeeper, `stop()` (every
instance asked then stopped, idempotent, the directory kept or removed) and sweeping the
directories of dead sessions."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from aglidein.condor.personal.instance import PoolInstance
from aglidein.condor.personal.topology import BASE_PREFIX, Topology, sweep_stale


@dataclass
class _FakeInstance:
    name: str
    calls: list[str]
    schedd_name: str = ""
    collector: str = ""
    fail: bool = False

    def request_stop(self) -> None:
        self.calls.append(f"{self.name}.request_stop")
        if self.fail:
            raise RuntimeError("condor_off failed")

    def stop(self) -> None:
        self.calls.append(f"{self.name}.stop")


def _topology(base: Path, calls: list[str], *, fail: bool = False) -> Topology:
    base.mkdir(exist_ok=True)
    (base / "owner.pid").write_text(f"{os.getpid()}\n")
    (base / "vo").mkdir(exist_ok=True)
    site = _FakeInstance("site", calls, "site@site.test", "127.0.0.1:9002", fail=fail)
    vo = _FakeInstance("vo", calls)
    return Topology(base=base, vo=cast(PoolInstance, vo), site=cast(PoolInstance, site))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_site_as_an_htcondor_c_resource(tmp_path: Path) -> None:
    topology = _topology(tmp_path / "agp-x", [])
    assert topology.grid_resource == "condor site@site.test 127.0.0.1:9002"
    assert topology.gatekeeper == "site@site.test 127.0.0.1:9002"


def test_stop_asks_both_then_stops_both_and_removes_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGLIDEIN_KEEP_POOL", raising=False)
    calls: list[str] = []
    topology = _topology(tmp_path / "agp-x", calls, fail=True)  # errors do not stop it
    topology.stop()
    assert calls == ["site.request_stop", "vo.request_stop", "site.stop", "vo.stop"]
    assert topology.stopped
    assert not topology.base.exists()
    topology.stop()  # atexit's second stop does nothing
    assert len(calls) == 4


def test_a_kept_directory_loses_its_owner_so_no_sweep_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGLIDEIN_KEEP_POOL", raising=False)
    topology = _topology(tmp_path / f"{BASE_PREFIX}kept", [])
    topology.stop(keep=True)
    assert (topology.base / "vo").is_dir()
    assert not (topology.base / "owner.pid").exists()
    assert sweep_stale(tmp_path) == []
    assert topology.base.exists()


def test_keep_defaults_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGLIDEIN_KEEP_POOL", "1")
    topology = _topology(tmp_path / "agp-x", [])
    topology.stop()
    assert (topology.base / "vo").is_dir()
    again = _topology(tmp_path / "agp-y", [])
    again.stop(keep=False)  # the caller's word wins
    assert not again.base.exists()


def test_sweep_removes_only_directories_of_dead_owners(tmp_path: Path) -> None:
    dead = tmp_path / f"{BASE_PREFIX}dead"
    (dead / "vo").mkdir(parents=True)
    (dead / "owner.pid").write_text(f"{_dead_pid()}\n")
    alive = tmp_path / f"{BASE_PREFIX}alive"
    alive.mkdir()
    (alive / "owner.pid").write_text(f"{os.getpid()}\n")
    ownerless = tmp_path / f"{BASE_PREFIX}ownerless"
    ownerless.mkdir()
    garbled = tmp_path / f"{BASE_PREFIX}garbled"
    garbled.mkdir()
    (garbled / "owner.pid").write_text("not a pid\n")
    other = tmp_path / "not-ours"
    other.mkdir()
    (other / "owner.pid").write_text(f"{_dead_pid()}\n")
    assert sweep_stale(tmp_path) == [dead]
    assert not dead.exists()
    for kept in (alive, ownerless, garbled, other):
        assert kept.exists(), kept
