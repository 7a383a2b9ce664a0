"""`aglidein plan --url`: the running daemon's last cycle, the same table as a fresh plan,
every `limited_by` reason with its amounts (also in `status` and `/api/v1/status`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aglidein.cli import main
from tests.commands.test_downtime import CONFIG, SCENARIO
from tests.daemon_helpers import RunningDaemon, free_port, start_daemon

TOKEN = "plan-url-read-token"


@pytest.fixture
def limited_daemon(tmp_path: Path, signing_key: Path) -> Iterator[tuple[RunningDaemon, Path]]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    token = tmp_path / "read.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    port = free_port()
    text = CONFIG.format(state=tmp_path / "state", key=signing_key, scenario=scenario, port=port)
    text = text.replace(
        '  listen: ["127.0.0.1:', f'  read_token_file: {token}\n  listen: ["127.0.0.1:'
    ).replace(
        "    attrs: {GLIDEIN_Site: SiteA}\n",
        "    attrs: {GLIDEIN_Site: SiteA}\n    limits: {max_glideins: 4}\n",
    )
    config = tmp_path / "aglidein.yaml"
    config.write_text(text)
    running = start_daemon(config, tmp_path, port)
    yield running, token
    running.stop()
    running.notify.close()


def _decisions(daemon: RunningDaemon) -> list[dict[str, Any]]:
    status = daemon.get("/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    return [d for e in status.get("entries", []) for d in e.get("decisions", []) if "group" in d]


def test_plan_url_shows_the_daemons_cuts_with_amounts(
    limited_daemon: tuple[RunningDaemon, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, token = limited_daemon
    deadline = time.monotonic() + 60  # liveness bound for a busy machine
    while not any(d["entry"] == "CE_A" for d in _decisions(daemon)):
        assert time.monotonic() < deadline, daemon.log()[-3000:]
        time.sleep(0.5)
    (row,) = [d for d in _decisions(daemon) if d["entry"] == "CE_A"]
    cut = next(c for c in row["cuts"] if c["reason"] == "entry.max_glideins")
    assert cut["limit"] == 4
    assert cut["from"] > cut["to"]
    assert "entry.max_glideins" in row["limited_by"]

    url = daemon.base_url
    assert main(["plan", "--url", url, "--token-file", str(token), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)["decisions"]
    assert {d["entry"] for d in planned} == {"CE_A", "CE_B"}
    assert all("cuts" in d and "limited_by" in d for d in planned)

    assert main(["plan", "--url", url, "--token-file", str(token)]) == 0
    out = capsys.readouterr().out
    assert "limited by" in out
    assert "entry.max_glideins:" in out
    assert "→" in out
    assert f"from {url}" in out

    assert main(["status", "--url", url, "--token-file", str(token)]) == 0
    assert "entry.max_glideins:" in capsys.readouterr().out


def test_plan_url_without_the_token_is_refused(
    limited_daemon: tuple[RunningDaemon, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, _ = limited_daemon
    assert main(["plan", "--url", daemon.base_url]) == 1
    assert "HTTP 401" in capsys.readouterr().err
