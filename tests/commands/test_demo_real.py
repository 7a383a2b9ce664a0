"""`aglidein demo --real-pool` before any pool starts: conflicting options, no HTCondor
(exit 2 with how to get one), a bad tarball; and its signal/environment guards."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from aglidein.cli import main
from aglidein.commands import demo_real
from aglidein.commands.demo_real import EXIT_NO_CONDOR
from aglidein.condor.personal.release import HOW_TO_GET, TARBALL_ENV
from aglidein.condor.personal.topology import Topology


@pytest.fixture
def no_condor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with no HTCondor on it, no tarball named, a cache under tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv(TARBALL_ENV, raising=False)
    monkeypatch.setenv("AGLIDEIN_CONDOR_CACHE", str(tmp_path / "cache"))
    return bin_dir


def test_no_htcondor_exits_2_saying_how_to_get_it(
    no_condor: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--real-pool", "--no-tty"]) == EXIT_NO_CONDOR == 2
    captured = capsys.readouterr()
    assert captured.err == f"aglidein: {HOW_TO_GET}\n"
    assert captured.out == ""


def test_a_missing_tarball_exits_2(
    no_condor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = tmp_path / "htcondor-none.tar.gz"
    assert main(["demo", "--real-pool", "--condor-tarball", str(tarball)]) == 2
    err = capsys.readouterr().err
    assert f"{tarball}: no such file" in err
    assert HOW_TO_GET in err


def test_a_missing_tarball_from_the_environment_exits_2(
    no_condor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TARBALL_ENV, str(tmp_path / "gone.tar.gz"))
    assert main(["demo", "--real-pool"]) == 2


def test_a_tarball_that_is_not_one_exits_2(
    no_condor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = tmp_path / "htcondor.tar.gz"
    tarball.write_bytes(b"not a tarball")
    assert main(["demo", "--real-pool", "--condor-tarball", str(tarball)]) == 2
    assert "cannot unpack" in capsys.readouterr().err


def test_condor_on_path_without_a_tarball_for_the_glideins_exits_2(
    no_condor: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = no_condor / "condor_master"
    master.write_text("#!/bin/sh\nexit 1\n")
    master.chmod(0o755)
    assert main(["demo", "--real-pool"]) == 2
    assert "the glideins need an HTCondor tarball" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--config", "--state-dir"])
def test_config_and_state_dir_are_refused(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--real-pool", option, str(tmp_path / "x")]) == 1
    assert "drop --config/--state-dir" in capsys.readouterr().err


def test_sigterm_is_an_interrupt_inside_and_restored_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with demo_real._sigterm_interrupts(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_are_ignored_while_the_pools_stop_then_restored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with demo_real._signals_ignored():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_the_condor_env_is_set_inside_and_restored_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDOR_CONFIG", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin")
    env: dict[str, Any] = {"CONDOR_CONFIG": "/tmp/agp-x/vo/condor_config", "PATH": "/c/bin"}
    topology = cast(Topology, SimpleNamespace(vo=SimpleNamespace(env=env)))
    with demo_real._condor_env(topology):
        assert os.environ["CONDOR_CONFIG"] == env["CONDOR_CONFIG"]
        assert os.environ["PATH"] == "/c/bin"
    assert "CONDOR_CONFIG" not in os.environ
    assert os.environ["PATH"] == "/usr/bin"
