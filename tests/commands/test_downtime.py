"""`aglidein downtime add|list|end` as an operator uses it: the CLI against a daemon on
the simulated pool, then `status` and `plan` saying why an entry gets nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aglidein.cli import main
from tests.daemon_helpers import RunningDaemon, free_port, start_daemon

SCENARIO = """\
seed: 5
schedds:
  - name: schedd1
    jobs:
      - {count: 200, attrs: {DESIRED_Sites: "SiteA,SiteB"}, run_time: 10h}
entries:
  default: {queue_time: 10h, run_time: 10h}
"""

CONFIG = """\
factory:
  name: downtime-factory
  state_dir: {state}
  cycle: 1s
  shutdown_grace: 10s
  submit: {{cluster_size: 5, max_per_cycle: 10}}
pool:
  collector: 127.0.0.1:9618
  trust_domain: test.example.org
  signing_key: {key}
  simulate: {scenario}
http:
  listen: ["127.0.0.1:{port}"]
groups:
  - name: main
    schedds: [schedd1]
    match: 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)'
    limits: {{max_idle_per_entry: 20}}
entries:
  - name: CE_A
    gridtype: condor
    gatekeeper: ce.a.example.org
    auth: {{method: idtoken}}
    attrs: {{GLIDEIN_Site: SiteA}}
  - name: CE_B
    gridtype: condor
    gatekeeper: ce.b.example.org
    auth: {{method: idtoken}}
    attrs: {{GLIDEIN_Site: SiteB}}
"""


@pytest.fixture
def sim_config(tmp_path: Path, signing_key: Path) -> tuple[Path, int]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    port = free_port()
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        CONFIG.format(state=tmp_path / "state", key=signing_key, scenario=scenario, port=port)
    )
    return config, port


@pytest.fixture
def sim_daemon(tmp_path: Path, sim_config: tuple[Path, int]) -> Iterator[RunningDaemon]:
    config, port = sim_config
    running = start_daemon(config, tmp_path, port)
    yield running
    running.stop()
    running.notify.close()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _entry(daemon: RunningDaemon, name: str) -> dict[str, Any]:
    status = daemon.get("/api/v1/status").json()
    (entry,) = [e for e in status["entries"] if e["name"] == name]
    return dict(entry)


def _wait(what: str, check: Callable[[], bool], daemon: RunningDaemon, timeout: float = 60) -> None:
    """Poll until `check()` holds (a liveness bound, generous for a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; log:\n{daemon.log()[-3000:]}")


def test_a_downtime_stops_an_entry_drains_its_idle_glideins_and_ends(
    sim_daemon: RunningDaemon,
    sim_config: tuple[Path, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(sim_config[0])
    daemon = sim_daemon
    _wait("idle glideins on CE_A", lambda: _entry(daemon, "CE_A")["glideins"]["idle"] > 0, daemon)

    status, out, err = _cli(
        capsys, "downtime", "add", "CE_A", "--end", "+2h", "--comment", "CE upgrade",
        "--config", config, "--json",
    )  # fmt: skip
    assert status == 0, err
    added = json.loads(out)
    assert (added["entry"], added["group"], added["comment"]) == ("CE_A", None, "CE upgrade")
    assert added["state"] == "in force"

    def drained() -> bool:
        entry = _entry(daemon, "CE_A")
        return entry["glideins"]["idle"] == 0 and entry["downtime"] is not None

    _wait("CE_A's idle glideins removed", drained, daemon)
    entry = _entry(daemon, "CE_A")
    (decision,) = entry["decisions"]
    assert "downtime" in decision["limited_by"]
    assert decision["downtime"] == "CE upgrade"
    assert decision["requested_idle"] == 0
    assert entry["downtime"]["id"] == added["id"]
    assert _entry(daemon, "CE_B")["glideins"]["idle"] > 0  # the other entry is still served

    status, out, _ = _cli(capsys, "status", "--config", config)
    assert status == 0
    assert "downtime until" in out
    assert "CE upgrade" in out
    status, out, _ = _cli(capsys, "downtime", "list", "--config", config)
    assert status == 0
    assert "CE_A" in out
    assert "CE upgrade" in out
    assert "in force" in out

    # plan reads the downtime from the state DB and says the same as the daemon
    status, out, err = _cli(capsys, "plan", "--config", config, "--json")
    assert status == 0, err
    planned = {d["entry"]: d for d in json.loads(out)["decisions"]}
    assert "downtime" in planned["CE_A"]["limited_by"]
    assert planned["CE_A"]["downtime"] == "CE upgrade"
    assert "downtime" not in planned["CE_B"]["limited_by"]
    status, out, _ = _cli(capsys, "plan", "--config", config)
    assert "downtime (CE upgrade)" in out

    status, out, err = _cli(capsys, "downtime", "end", str(added["id"]), "--config", config)
    assert status == 0, err
    assert "over" in out
    _wait(
        "CE_A served again",
        lambda: (
            _entry(daemon, "CE_A")["glideins"]["idle"] > 0
            and _entry(daemon, "CE_A")["downtime"] is None
        ),
        daemon,
    )
    status, out, _ = _cli(capsys, "downtime", "list", "--config", config)
    assert "no downtimes in force or to come" in out
    status, out, _ = _cli(capsys, "downtime", "list", "--all", "--config", config, "--json")
    assert [d["id"] for d in json.loads(out)["downtimes"]] == [added["id"]]


def test_a_group_downtime_in_the_future_and_bad_input(
    sim_daemon: RunningDaemon,
    sim_config: tuple[Path, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(sim_config[0])
    status, out, err = _cli(
        capsys, "downtime", "add", "all", "--group", "main", "--start", "+1h", "--end", "+3h",
        "--comment", "pool maintenance", "--config", config, "--json",
    )  # fmt: skip
    assert status == 0, err
    scheduled = json.loads(out)
    assert (scheduled["entry"], scheduled["group"], scheduled["state"]) == (
        "all",
        "main",
        "scheduled",
    )
    listed = daemon_list(capsys, config)
    assert [d["id"] for d in listed] == [scheduled["id"]]

    for argv, problem in (
        (["NOPE"], "no entry named 'NOPE'"),
        (["CE_A", "--group", "cms"], "no group named 'cms'"),
        (["CE_A", "--start", "+2h", "--end", "+1h"], "is not after the start"),
        (["CE_A", "--end", "tomorrow"], "end 'tomorrow' is not a time"),
        (["CE_A", "--start", "+2x"], "a relative time is + and a duration"),
        (["CE_A", "--start", "2019-06-01", "--end", "2020-01-01T00:00Z"], "in the past"),
    ):
        status, out, err = _cli(
            capsys, "downtime", "add", *argv, "--comment", "x", "--config", config
        )
        assert status == 1, argv
        assert problem in err, err
        assert err.count("\n") == 1, err  # one line, no traceback
        assert out == ""
    status, _, err = _cli(capsys, "downtime", "end", "999", "--config", config)
    assert status == 1
    assert "no downtime with id 999" in err

    status, out, _ = _cli(capsys, "downtime", "end", str(scheduled["id"]), "--config", config)
    assert status == 0
    assert daemon_list(capsys, config) == []  # a downtime not yet started is cancelled


def daemon_list(capsys: pytest.CaptureFixture[str], config: str) -> list[dict[str, Any]]:
    status, out, _ = _cli(capsys, "downtime", "list", "--config", config, "--json")
    assert status == 0
    return list(json.loads(out)["downtimes"])
