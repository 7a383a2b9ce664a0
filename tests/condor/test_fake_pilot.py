"""What the simulated pilot reads and leaves: attrs, work directory, stderr by fate."""

from __future__ import annotations

from pathlib import Path

from aglidein.condor.fake_pilot import local_workdir, read_attrs_file, write_pilot_stderr
from aglidein.condor.fake_schedd import FakeJob


def test_attrs_file_values_are_typed_as_the_pilot_advertises_them(tmp_path: Path) -> None:
    attrs = tmp_path / "attrs"
    attrs.write_text("GLIDEIN_Site='Site A'\nGLIDEIN_CPUS='8'\nX='1.5'\nOK='TRUE'\nbroken\n")
    assert read_attrs_file(str(attrs)) == {
        "GLIDEIN_Site": "Site A",
        "GLIDEIN_CPUS": 8,
        "X": 1.5,
        "OK": True,
    }
    assert read_attrs_file(str(tmp_path / "missing")) == {}


def test_a_failed_pilot_leaves_its_end_on_stderr_and_a_good_one_nothing(tmp_path: Path) -> None:
    err = tmp_path / "g.err"
    write_pilot_stderr(FakeJob(ad={"Err": str(err)}), 0.0, "ok", 0)
    assert not err.exists()
    write_pilot_stderr(FakeJob(ad={"Err": str(err)}), 0.0, "failed", 1)
    lines = err.read_text().splitlines()
    assert (
        lines[-1] == "1970-01-01T00:00:00Z ERROR glidein.end exit_code=1 reason=validation_failed"
    )


def test_a_local_job_runs_in_its_iwd_else_beside_its_output() -> None:
    assert local_workdir(FakeJob(ad={"Iwd": "/w", "Out": "/o/x.out"})) == "/w"
    assert local_workdir(FakeJob(ad={"Out": "/o/x.out"})) == "/o"
    assert local_workdir(FakeJob(ad={"Out": "/dev/null"})) is None
