"""`aglidein credentials`: from the daemon's status when it answers, else from the files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from aglidein.cli import main
from aglidein.client import DaemonClient
from aglidein.commands.credentials import format_left
from tests.credential_helpers import config_text, proxy_file, scitoken, write_private
from tests.daemon_helpers import free_port, start_daemon


def _config(tmp_path: Path) -> Path:
    credentials = f"""\
  - {{name: osg, type: scitoken, path: {tmp_path / "osg.token"}}}
  - {{name: proxy, type: x509, path: {tmp_path / "x509up"}}}
  - {{name: ssh, type: ssh, path: {tmp_path / "id_ssh"}}}
"""
    path = tmp_path / "aglidein.yaml"
    path.write_text(config_text(tmp_path, credentials=credentials))
    write_private(tmp_path / "osg.token", scitoken(time.time() + 2 * 3600 + 30))
    write_private(tmp_path / "x509up", proxy_file(time.time() - 3 * 3600))
    return path


def test_offline_table_from_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    assert main(["credentials", "--config", str(config), "--offline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "type", "path", "left", "last_renewal", "error"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"osg", "proxy", "ssh"}
    assert " 2h0m " in rows["osg"]
    assert str(tmp_path / "osg.token") in rows["osg"]
    assert "expired 3h" in rows["proxy"]
    assert "no such file" in rows["ssh"]


def test_check_flag_fails_on_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    assert main(["credentials", "--config", str(config), "--offline", "--check"]) == 1


def test_json_from_files_when_daemon_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)  # http.listen 127.0.0.1:8080 by default; use a closed port
    assert (
        main(["credentials", "--config", str(config), "--url", "http://127.0.0.1:9", "--json"]) == 0
    )
    captured = capsys.readouterr()
    assert "daemon not reachable" in captured.err
    rows = {row["name"]: row for row in json.loads(captured.out)["credentials"]}
    assert rows["osg"]["source"] == "files"
    assert rows["osg"]["left_s"] == pytest.approx(2 * 3600 + 30, abs=60)
    assert rows["ssh"]["left_s"] is None


def test_uses_daemon_status_when_reachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 90 * 60))
    status = {
        "credentials": [
            {
                "name": "osg",
                "type": "scitoken",
                "expires": expires,
                "last_renewal": "2026-11-25T10:00:00Z",
                "last_error": "refresh command exited with status 3: denied",
            }
        ]
    }
    calls: list[str] = []

    def fake_request(self: DaemonClient, method: str, path: str, **kwargs: Any) -> Any:
        calls.append(f"{method} {path}")
        return status

    monkeypatch.setattr(DaemonClient, "request", fake_request)
    assert main(["credentials", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert calls == ["GET /api/v1/status"]
    row = out.splitlines()[1]
    assert row.startswith("osg")
    assert "1h29m" in row or "1h30m" in row
    assert "2026-11-25T10:00:00Z" in row
    assert "status 3: denied" in row
    assert str(tmp_path / "osg.token") in row  # path from the config


def test_format_left() -> None:
    assert format_left(None) == "-"
    assert format_left(3 * 86400 + 4 * 3600 + 5) == "3d4h"
    assert format_left(45 * 60) == "45m"
    assert format_left(-7200) == "expired 2h0m ago"


def test_against_a_running_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    write_private(tmp_path / "fresh.token", scitoken(time.time() + 5 * 3600))
    credentials = f"""\
  - name: osg
    type: scitoken
    path: {tmp_path / "creds" / "osg.token"}
    refresh_command: [cp, {tmp_path / "fresh.token"}, $AGLIDEIN_CREDENTIAL_OUT]
"""
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        config_text(tmp_path, credentials=credentials) + f"http:\n  listen: ['127.0.0.1:{port}']\n"
    )
    daemon = start_daemon(config, tmp_path, port)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = daemon.get("/api/v1/status").json()
            if body["credentials"] and body["credentials"][0]["last_renewal"]:
                break
            time.sleep(0.2)
        assert main(["credentials", "--config", str(config), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)["credentials"]
        assert rows[0]["source"] == "daemon"
        assert rows[0]["name"] == "osg"
        assert rows[0]["last_renewal"] is not None
        assert rows[0]["left_s"] == pytest.approx(5 * 3600, abs=120)
        metrics = daemon.get("/metrics").text
        assert 'aglidein_credential_expiry_timestamp_seconds{credential="osg"}' in metrics
        assert (
            'aglidein_credential_renewals_total{credential="osg",result="success"} 1.0' in metrics
        )
        assert (tmp_path / "state" / "log-signing.key").exists()  # created on first start
    finally:
        daemon.stop()
        daemon.notify.close()
