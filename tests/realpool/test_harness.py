"""The harness itself: both pools up, HTCondor-C from the VO schedd to the site, cleanup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.realpool import release
from tests.realpool.pool import PoolInstance, kill_leftovers, wait_until
from tests.realpool.topology import Topology


def test_vo_pool_and_site_are_up(realpool: Topology) -> None:
    vo, site = realpool.vo, realpool.site
    assert vo.collector != site.collector
    assert vo.trust_domain != site.trust_domain
    schedds = vo.query_json("condor_status", "-schedd")
    # its own schedd and the two extra ones (fixtures.VO_SCHEDDS)
    assert sorted(ad["Name"] for ad in schedds) == sorted(vo.schedd_names)
    assert len(vo.schedd_names) == 3
    assert vo.startds("AglideinId =?= undefined") == []  # only glideins join the VO pool
    (slot,) = site.startds("PartitionableSlot =?= true")  # a job may be running there
    assert slot["PartitionableSlot"] is True
    assert vo.signing_key.stat().st_size > 0


def test_user_job_goes_from_vo_schedd_to_site_through_htcondor_c(realpool: Topology) -> None:
    vo, site = realpool.vo, realpool.site
    cluster, count = vo.submit(
        {
            "universe": "grid",
            "grid_resource": realpool.grid_resource,
            "executable": "/bin/echo",
            "arguments": "hello-from-the-site",
            "transfer_executable": "false",
            "output": "htcondor-c.out",
            "log": "htcondor-c.log",
            "should_transfer_files": "YES",
            "when_to_transfer_output": "ON_EXIT",
        }
    )
    assert count == 1
    done = wait_until(
        lambda: vo.history(f"ClusterId == {cluster}", ["JobStatus", "ExitCode", "GridJobId"]),
        timeout=180,
        what="the HTCondor-C job to complete",
        interval=2,
        diagnose=lambda: vo.log_tail("GridmanagerLog", "SchedLog") + site.log_tail("SchedLog"),
    )
    assert done[0]["JobStatus"] == 4
    assert (vo.job_dir / "htcondor-c.out").read_text().strip() == "hello-from-the-site"
    assert str(done[0]["GridJobId"]).startswith(f"condor {site.schedd_name} {site.collector} ")


def test_vo_env_serves_tools_and_tokens(vo_env: PoolInstance) -> None:
    out = vo_env.run("condor_ping", "-type", "schedd", "-name", vo_env.schedd_name, "WRITE")
    assert "WRITE command using" in out.stdout + out.stderr or out.returncode == 0
    token = vo_env.mint_token(f"glidein@{vo_env.trust_domain}", lifetime=600)
    assert token.count(".") == 2


def test_leftover_processes_are_killed_by_pid(tmp_path: Path) -> None:
    base = tmp_path / "instance"
    (base / "execute").mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "300"], cwd=base / "execute")
    try:
        assert sleeper.pid in kill_leftovers(base)
        assert sleeper.wait(timeout=10) == -9
    finally:
        sleeper.kill()


def test_no_htcondor_means_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(release.TARBALL_ENV, raising=False)
    monkeypatch.setattr(release, "REPO", tmp_path / "checkout")
    assert release.find_release() is None
    monkeypatch.setenv(release.TARBALL_ENV, str(tmp_path / "missing.tar.gz"))
    with pytest.raises(FileNotFoundError, match="AGLIDEIN_CONDOR_TARBALL"):
        release.find_release()
