"""A personal HTCondor instance without starting one: free_port, wait_until, the pool
user, endpoints and env, the rendered config (extra schedds too), master_pid."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from aglidein.condor.personal.instance import (
    PoolError,
    PoolInstance,
    PoolSpec,
    free_port,
    wait_until,
)
from aglidein.condor.personal.release import CondorRelease

SPEC = PoolSpec(name="vo", daemons=("COLLECTOR", "SCHEDD"), trust_domain="vo.test")


@pytest.fixture
def release(tmp_path: Path) -> CondorRelease:
    root = tmp_path / "condor"
    return CondorRelease(bin=root / "bin", sbin=root / "sbin", origin="PATH")


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root, with the daemons run as `nobody` (an existing user: no useradd)."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("AGLIDEIN_POOL_USER", "nobody")


@pytest.fixture
def as_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 65534)


def _config(instance: PoolInstance) -> dict[str, str]:
    knobs = {}
    for line in instance._config_text().splitlines():
        if "=" in line and not line.startswith(("#", "use ")):
            name, _, value = line.partition("=")
            knobs[name.strip()] = value.strip()
    return knobs


def test_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_wait_until_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), timeout=5, what="x", interval=0) == "ready"


def test_wait_until_times_out_naming_what_it_waited_for() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)

    with pytest.raises(PoolError, match=r"timed out after 0s waiting for the schedd\nlog tail"):
        wait_until(probe, timeout=0, what="the schedd", interval=0, diagnose=lambda: "log tail")
    assert calls == [1]


@pytest.mark.parametrize("user", ["root", "condor"])
def test_root_and_condor_cannot_own_the_pool(
    user: str,
    as_root: None,
    monkeypatch: pytest.MonkeyPatch,
    release: CondorRelease,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("AGLIDEIN_POOL_USER", user)
    with pytest.raises(PoolError, match=f"AGLIDEIN_POOL_USER={user}"):
        PoolInstance(SPEC, release, tmp_path / "vo")


def test_endpoints_and_env(
    as_nobody: None, release: CondorRelease, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    pool = PoolInstance(SPEC, release, tmp_path / "vo", port=9123)
    assert pool.user == "nobody"
    assert pool.collector == "127.0.0.1:9123"
    assert pool.schedd_name == "vo@vo.test"
    assert pool.trust_domain == "vo.test"
    assert pool.config_path == tmp_path / "vo" / "condor_config"
    assert pool.signing_key == tmp_path / "vo" / "passwords.d" / "POOL"
    env = pool.env
    assert env["CONDOR_CONFIG"] == str(tmp_path / "vo" / "condor_config")
    assert env["PATH"] == f"{release.bin}:{release.sbin}:/usr/bin"


def test_an_instance_gets_a_free_port_by_default(
    as_nobody: None, release: CondorRelease, tmp_path: Path
) -> None:
    pool = PoolInstance(SPEC, release, tmp_path / "a")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", pool.port))


def test_the_config_of_an_instance_run_as_ourselves(
    as_nobody: None, release: CondorRelease, tmp_path: Path
) -> None:
    spec = PoolSpec(
        name="site",
        daemons=("COLLECTOR", "STARTD"),
        trust_domain="site.test",
        cpus=2,
        memory_mb=1024,
        extra_config="EXTRA_KNOB = yes",
    )
    knobs = _config(PoolInstance(spec, release, tmp_path / "site", port=9200))
    assert knobs["DAEMON_LIST"] == "MASTER COLLECTOR STARTD"
    assert knobs["LOCAL_DIR"] == str(tmp_path / "site")
    assert knobs["RELEASE_DIR"] == str(release.release_dir)
    assert knobs["LIB"] == str(release.release_dir / "lib")  # no LIB given: under the release
    assert knobs["LIBEXEC"] == str(release.release_dir / "libexec")
    assert knobs["COLLECTOR_HOST"] == "$(CONDOR_HOST):9200"
    assert knobs["SCHEDD_NAME"] == "site@site.test"
    assert knobs["NUM_CPUS"] == "2"
    assert knobs["MEMORY"] == "1024"
    assert knobs["EXTRA_KNOB"] == "yes"
    assert "CONDOR_IDS" not in knobs


def test_the_config_of_an_instance_run_by_root(
    as_root: None, tmp_path: Path, release: CondorRelease
) -> None:
    split = CondorRelease(
        bin=release.bin,
        sbin=release.sbin,
        origin="PATH",
        lib=tmp_path / "usr-lib-condor",
        libexec=tmp_path / "usr-libexec-condor",
    )
    pool = PoolInstance(SPEC, split, tmp_path / "vo")
    assert pool.user == "nobody"
    knobs = _config(pool)
    assert knobs["CONDOR_IDS"] == "65534.65534"
    assert knobs["LIB"] == str(tmp_path / "usr-lib-condor")
    assert knobs["LIBEXEC"] == str(tmp_path / "usr-libexec-condor")


def test_master_pid_is_the_live_pid_in_the_pidfile(
    as_nobody: None, release: CondorRelease, tmp_path: Path
) -> None:
    pool = PoolInstance(SPEC, release, tmp_path / "vo")
    assert pool.master_pid is None  # no pidfile
    (tmp_path / "vo" / "run").mkdir(parents=True)
    pidfile = tmp_path / "vo" / "run" / "master.pid"
    pidfile.write_text("garbage\n")
    assert pool.master_pid is None
    gone = subprocess.Popen(["true"])
    gone.wait()
    pidfile.write_text(f"{gone.pid}\n")
    assert pool.master_pid is None  # not alive
    pidfile.write_text(f"{os.getpid()}\n")
    assert pool.master_pid == os.getpid()


def test_stop_without_a_master_runs_no_tool(
    as_nobody: None, release: CondorRelease, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = PoolInstance(SPEC, release, tmp_path / "vo")
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(pool, "run", lambda *argv, **kwargs: ran.append(argv))
    pool.stop(timeout=0)
    assert ran == []
    (tmp_path / "vo" / "run").mkdir(parents=True)
    (tmp_path / "vo" / "run" / "master.pid").write_text(f"{os.getpid()}\n")
    pool.request_stop()  # a live master: asked to stop, not waited for
    assert ran == [("condor_off", "-fast", "-master")]


def test_extra_schedds_are_named_configured_and_switched_by_local_name(
    as_nobody: None, release: CondorRelease, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = PoolSpec(
        name="vo", daemons=("SCHEDD",), trust_domain="vo.test", extra_schedds=("fs1", "fs2")
    )
    pool = PoolInstance(spec, release, tmp_path / "vo")
    assert pool.schedd_names == ("vo@vo.test", "fs1@vo.test", "fs2@vo.test")
    text = pool._config_text()
    assert "FS2_ARGS = -local-name fs2" in text
    assert text.index("DAEMON_LIST = MASTER SCHEDD") < text.index(
        "DAEMON_LIST = $(DAEMON_LIST) FS1"
    )
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(pool, "run", lambda *argv, **kwargs: ran.append(argv))
    pool.switch_schedd("fs2", on=False)
    pool.switch_schedd("fs2", on=True)
    assert ran == [("condor_off", "-daemon", "FS2"), ("condor_on", "-daemon", "FS2")]
    with pytest.raises(PoolError, match="'vo' is not an extra schedd of vo"):
        pool.switch_schedd("vo", on=False)


def test_queries_name_the_schedd_they_ask(
    as_nobody: None, release: CondorRelease, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = PoolInstance(SPEC, release, tmp_path / "vo")
    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(pool, "query_json", lambda *argv, **kwargs: asked.append(argv) or [])
    pool.jobs("true", ["ClusterId"], schedd="fs1@vo.test")
    pool.history("X == 1")
    condor_q = ("condor_q", "-allusers", "-name", "fs1@vo.test", "-constraint", "true")
    assert asked == [
        (*condor_q, "-attributes", "ClusterId"),
        ("condor_history", "-constraint", "X == 1"),
    ]
