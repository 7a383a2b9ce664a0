"""`aglidein plan`: offline on dumps (checked against a hand count of the GlideinWMS fixture),
a directory of per-schedd dumps, the table, and a live pool that cannot be reached."""

from __future__ import annotations

import json
import shutil
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from aglidein.cli import main
from aglidein.condor.api import Ad, ScheddLocation
from aglidein.core.model import EntryHealth, OperatorState
from aglidein.errors import CondorError
from aglidein.state import StateDB
from tests.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
JOBS = FIXTURES / "classads" / "schedd-jobs.json"
CONFIG = REPO / "tests" / "data" / "plan-fixture.yaml"


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    status = main(["plan", "--config", str(CONFIG), *args, "--json"])
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out)


def test_fixture_counts_match_a_hand_count(capsys: pytest.CaptureFixture[str]) -> None:
    # schedd-jobs.json: 7 idle jobs. DESIRED_Sites: procs 0, 1, 2 Site_Name1; 6 Site_Name2;
    # 7, 8 "Site_Name1, Site_Name2"; 9 NO_SUCH_SITE. Running jobs (3, 4, 5, 10-12) are
    # outside `job_constraint: JobStatus == 1`.
    result = plan_json(capsys, "--jobs", str(JOBS))
    rows = {d["entry"]: d for d in result["decisions"]}
    assert list(rows) == ["CE_Site1", "CE_Site2", "CE_Site3", "CE_Site1_off"]
    counted = {
        name: (r["matching_jobs"], r["unique_share"], r["only_here"]) for name, r in rows.items()
    }
    assert counted == {
        "CE_Site1": (5, 4.0, 3),
        "CE_Site2": (3, 2.0, 1),
        "CE_Site3": (0, 0.0, 0),
        "CE_Site1_off": (0, 0.0, 0),
    }
    assert rows["CE_Site1"]["requested_idle"] > 0
    assert rows["CE_Site3"]["limited_by"] == ["no_demand"]
    assert "disabled" in rows["CE_Site1_off"]["limited_by"]
    for key in ("group", "running_jobs", "max_glideins", "remove_idle"):
        assert key in rows["CE_Site1"]
    assert set(result["timing"]) >= {"parse_s", "shape_s", "match_s", "decide_s"}


def test_a_directory_holds_one_dump_per_schedd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(JOBS, tmp_path / "schedd1.local.json")
    shutil.copy(JOBS, tmp_path / "other-schedd.json")  # no group polls it
    result = plan_json(capsys, "--jobs", str(tmp_path))
    rows = {d["entry"]: d for d in result["decisions"]}
    assert rows["CE_Site1"]["matching_jobs"] == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    result = plan_json(capsys, "--jobs", str(empty))  # a missing dump means no demand
    assert all(d["matching_jobs"] == 0 for d in result["decisions"])


def test_glidein_and_startd_dumps_feed_the_census(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    glideins = [
        {
            "AglideinFactory": "fixture-factory",
            "AglideinId": f"g{n}",
            "AglideinEntry": "CE_Site1",
            "AglideinGroup": "main",
            "ClusterId": 7,
            "ProcId": n,
            "JobStatus": 1 if n else 2,
            "QDate": 1000 + n,
        }
        for n in range(3)
    ] + [
        {
            "AglideinFactory": "someone-else",
            "AglideinId": "x",
            "AglideinEntry": "CE_Site1",
            "JobStatus": 1,
        }
    ]
    startds = [
        {
            "Name": "slot1@g0",
            "AglideinFactory": "fixture-factory",
            "AglideinId": "g0",
            "AglideinEntry": "CE_Site1",
            "AglideinGroup": "main",
            "State": "Claimed",
            "Activity": "Busy",
        },
    ]
    (tmp_path / "g.json").write_text(json.dumps(glideins, indent=1))
    (tmp_path / "s.json").write_text(json.dumps(startds))
    result = plan_json(
        capsys,
        "--jobs",
        str(JOBS),
        "--glideins",
        str(tmp_path / "g.json"),
        "--startds",
        str(tmp_path / "s.json"),
    )
    row = next(d for d in result["decisions"] if d["entry"] == "CE_Site1")
    assert (row["idle_glideins"], row["running_glideins"], row["running_jobs"]) == (2, 1, 1)


def test_the_table_shows_every_pair_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", str(CONFIG), "--jobs", str(JOBS)]) == 0
    out = capsys.readouterr().out
    for text in ("CE_Site1", "CE_Site2", "CE_Site3", "CE_Site1_off", "no_demand", "disabled"):
        assert text in out
    assert "timing:" in out


def test_a_dump_that_is_not_json_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "jobs.json"
    bad.write_text("ClusterId = 1\nProcId = 0\n")
    assert main(["plan", "--config", str(CONFIG), "--jobs", str(bad)]) == 1
    assert "not a JSON list of ads" in capsys.readouterr().err


class _DownSchedd:
    def __init__(self, name: str) -> None:
        self.name = name

    async def query(
        self, constraint: str = "true", projection: Sequence[str] = (), *, limit: int = -1
    ) -> list[Ad]:
        raise CondorError(f"connection refused by {self.name}")


class _DownCollector:
    async def query_startds(
        self, constraint: str = "true", projection: Sequence[str] = ()
    ) -> list[Ad]:
        raise CondorError("collector cm.example.org:9618 is down")

    async def locate_schedds(self, names: Sequence[str] = ()) -> list[ScheddLocation]:
        raise CondorError("collector cm.example.org:9618 is down")


class _DownPool:
    def collector(self) -> _DownCollector:
        return _DownCollector()

    def schedd(self, location: str | ScheddLocation) -> _DownSchedd:
        return _DownSchedd(str(location))

    async def aclose(self) -> None:
        return None


def test_live_plan_names_each_unreachable_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    condor = sys.modules.get("aglidein.condor") or __import__("aglidein.condor").condor
    assert isinstance(condor, types.ModuleType)
    monkeypatch.setattr(condor, "open_pool", lambda config: _DownPool(), raising=False)
    assert main(["plan", "--config", str(CONFIG)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach schedd schedd1.local: connection refused by schedd1.local" in err
    assert "cannot reach collector: collector cm.example.org:9618 is down" in err
    assert "cannot reach factory schedd local" in err


def _config_with_state(tmp_path: Path, **pool: str) -> Path:
    """The fixture config with its state_dir (and pool settings) under tmp_path."""
    text = CONFIG.read_text().replace("/tmp/aglidein-plan-fixture", str(tmp_path / "state"))
    for key, value in pool.items():
        text = text.replace("pool:\n", f"pool:\n  {key}: {value}\n")
    path = tmp_path / "aglidein.yaml"
    path.write_text(text)
    return path


def _save_health(state_dir: Path, *health: EntryHealth) -> None:
    state = StateDB.open(state_dir / "state.db")
    try:
        for one in health:
            anyio.run(state.save_health, one)
    finally:
        state.close()


def _stored_daemon_health(state_dir: Path) -> None:
    _save_health(
        state_dir,
        EntryHealth("CE_Site1", operator=OperatorState.DRAINING),
        EntryHealth("CE_Site2", backoff_until=time.time() + 3600, failures=2),
        EntryHealth("CE_Site3", operator=OperatorState.DISABLED),
    )


def _plan_rows(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> dict[str, dict]:
    capsys.readouterr()  # whatever the test printed before (the state DB's log lines)
    status = main(["plan", "--config", str(config), *args, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return {d["entry"]: d for d in json.loads(captured.out)["decisions"]}


def test_offline_plan_uses_the_entry_health_the_daemon_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_with_state(tmp_path)
    before = _plan_rows(capsys, config, "--jobs", str(JOBS))
    assert before["CE_Site1"]["submit"] > 0
    assert before["CE_Site2"]["submit"] > 0
    _stored_daemon_health(tmp_path / "state")
    rows = _plan_rows(capsys, config, "--jobs", str(JOBS))
    for entry, reason in (
        ("CE_Site1", "draining"),
        ("CE_Site2", "backoff"),
        ("CE_Site3", "disabled"),
    ):
        assert reason in rows[entry]["limited_by"], entry
        assert rows[entry]["submit"] == 0
    assert rows["CE_Site1"]["matching_jobs"] == 5  # health cuts the request, not the counts


def test_live_plan_uses_the_entry_health_the_daemon_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "schedds:\n"
        "  - name: schedd1.local\n"
        "    jobs:\n"
        "      - {count: 20, attrs: {JobStatus: 1, DESIRED_Sites: 'Site_Name1,Site_Name2'}}\n"
    )
    config = _config_with_state(tmp_path, simulate=str(scenario))
    before = _plan_rows(capsys, config)
    assert before["CE_Site1"]["matching_jobs"] == 20
    assert before["CE_Site1"]["submit"] > 0
    _stored_daemon_health(tmp_path / "state")
    rows = _plan_rows(capsys, config)
    assert "draining" in rows["CE_Site1"]["limited_by"]
    assert "backoff" in rows["CE_Site2"]["limited_by"]
    assert rows["CE_Site1"]["submit"] == rows["CE_Site2"]["submit"] == 0


def test_plan_creates_no_state_dir_or_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_with_state(tmp_path)
    rows = _plan_rows(capsys, config, "--jobs", str(JOBS))
    assert rows["CE_Site1"]["submit"] > 0
    assert not (tmp_path / "state").exists()
    (tmp_path / "state").mkdir()
    _plan_rows(capsys, config, "--jobs", str(JOBS))
    assert list((tmp_path / "state").iterdir()) == []


def test_held_glideins_the_daemon_would_release_count_as_idle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def held(n: int, code: int) -> dict[str, object]:
        return {
            "AglideinFactory": "fixture-factory",
            "AglideinId": f"g{n}",
            "AglideinEntry": "CE_Site1",
            "AglideinGroup": "main",
            "ClusterId": 7,
            "ProcId": n,
            "JobStatus": 5,
            "EnteredCurrentStatus": 1000,  # long ago: due for release
            "QDate": 1000,
            "NumSystemHolds": 1,
            "HoldReasonCode": code,
        }

    dump = tmp_path / "g.json"
    dump.write_text(json.dumps([held(0, 12), held(1, 12), held(2, 1)]))  # 1: held by a person
    rows = _plan_rows(capsys, CONFIG, "--jobs", str(JOBS), "--glideins", str(dump))
    row = rows["CE_Site1"]
    assert (row["idle_glideins"], row["held_glideins"]) == (2, 1)
