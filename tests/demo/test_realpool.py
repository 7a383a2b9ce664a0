"""`aglidein demo --real-pool` without starting daemons: finding HTCondor (and the one
line that says how to get it), the factory config it writes, the summary it prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from aglidein.cli import main
from aglidein.condor.personal.instance import PoolInstance, PoolSpec
from aglidein.condor.personal.release import CondorRelease
from aglidein.condor.personal.topology import Topology
from aglidein.demo.real_runner import RealOutcome, RealSeen, real_summary
from aglidein.demo.realpool import ENTRIES, FACTORY_NAME, UserJobStats, prepare_real
from aglidein.demo.view import checks_text


@pytest.fixture
def no_condor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH with python but no condor_master, and no tarball named in the environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("AGLIDEIN_CONDOR_TARBALL", raising=False)


def test_without_htcondor_one_line_says_how_to_get_it_and_exits_2(
    no_condor: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--real-pool", "--no-tty"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for hint in ("no HTCondor", "condor_master on PATH", "--condor-tarball"):
        assert hint in err


def test_a_tarball_that_is_not_there_is_named(
    no_condor: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "htcondor-missing.tar.gz"
    assert main(["demo", "--real-pool", "--condor-tarball", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err


def test_real_pool_options_need_real_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--keep", "--no-tty"]) == 1
    assert "--real-pool" in capsys.readouterr().err


def fake_topology(base: Path) -> Topology:
    """A topology that was never started (for writing the factory config)."""
    release = CondorRelease(bin=base / "bin", sbin=base / "sbin", origin="test")
    vo = PoolInstance(PoolSpec("vo", ("SCHEDD",), "vo.test"), release, base / "vo")
    site = PoolInstance(PoolSpec("site", ("SCHEDD",), "site.test"), release, base / "site")
    return Topology(base=base, vo=vo, site=site)


def test_the_factory_config_points_at_the_vo_pool_and_the_site(tmp_path: Path) -> None:
    topology = fake_topology(tmp_path)
    tarball = tmp_path / "htcondor.tar.gz"
    setup = prepare_real(topology, tarball, 8123, root=os.geteuid() == 0)
    config = setup.loaded.config
    assert config.factory.name == FACTORY_NAME
    assert Path(config.factory.state_dir) == tmp_path / "factory"
    assert config.factory.glidein.condor_tarball == str(tarball)
    assert config.pool.collector == topology.vo.collector
    assert config.pool.trust_domain == "vo.test"
    assert [e.name for e in config.entries] == list(ENTRIES)
    assert {e.gatekeeper for e in config.entries} == {topology.gatekeeper}
    assert {e.gridtype for e in config.entries} == {"condor"}
    assert config.groups[0].schedds == [topology.vo.schedd_name]
    # as root the glideins are owned by the pool user (the schedd never lets root own one)
    owner = yaml.safe_load(setup.config_file.read_text())["factory"].get("job_owner")
    assert owner == (topology.vo.user if os.geteuid() == 0 else None)
    assert setup.base_url == "http://127.0.0.1:8123"


def test_the_summary_counts_user_jobs_on_glideins_and_exits_by_reason() -> None:
    seen = RealSeen(
        jobs=UserJobStats(
            submitted=10, completed=7, on_glideins=6, glideins_used=frozenset({"a", "b"}), slots=2
        ),
        submitted={"SITE_A": 3, "SITE_B": 1},
        exits={"ok": 2, "removed": 1},
        max_slots=2,
    )
    lines = real_summary(RealOutcome(seen, 0, 100.0, 20, False), how="duration reached")
    text = "\n".join(lines)
    assert "user jobs: 10 submitted, 7 completed, 6 of them on glidein slots (2 glideins)" in text
    assert "glideins: 4 submitted (SITE_A 3, SITE_B 1); exited by reason: ok 2, removed 1" in text
    assert lines[-1] == "all checks held"
    assert seen.ok


def test_no_user_job_on_a_glidein_fails_the_demo() -> None:
    seen = RealSeen(jobs=UserJobStats(submitted=6), submitted={"SITE_A": 2})
    assert not seen.ok
    lines = real_summary(RealOutcome(seen, 0, 60.0, 12, True), how="interrupted")
    assert "[FAIL] user jobs completed on glidein slots: 0 of 6 user jobs" in "\n".join(lines)
    assert "2 check(s) failed" in lines[-1]
    assert "... user jobs completed" in checks_text(seen.results()).plain


def test_a_failed_query_keeps_the_last_good_answer() -> None:
    seen = RealSeen()
    seen.observe_jobs(UserJobStats(submitted=4, on_glideins=1, slots=3))
    seen.observe_jobs(UserJobStats(submitted=4, error="condor_q: no answer within 60s"))
    assert seen.jobs.on_glideins == 1
    assert seen.max_slots == 3
