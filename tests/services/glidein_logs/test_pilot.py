"""The real pilot (no-condor mode) posts its records to the log service."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import anyio.to_thread
import httpx

from tests.services.glidein_logs.helpers import log_server

REPO = Path(__file__).resolve().parents[3]


async def test_pilot_logs_arrive_and_end_the_glidein(tmp_path: Path) -> None:
    tarball = tmp_path / "glidein.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(REPO / "glidein", arcname="glidein")
    (tmp_path / "id.token").write_text("token\n")
    (tmp_path / "attrs").write_text("GLIDEIN_Site='MY_SITE'\n")
    async with log_server(tmp_path) as server:
        token = tmp_path / "log.token"
        token.write_text(server.token("pilot-1", "US_FNAL_CE1") + "\n")
        token.chmod(0o600)
        command = [
            str(REPO / "glidein" / "glidein_startup.sh"),
            "--id", "pilot-1", "--entry", "US_FNAL_CE1", "--factory", "F",
            "--collector", "127.0.0.1:9", "--log-url", server.url + "/api/v1/logs",
            "--idtoken", str(tmp_path / "id.token"), "--log-token", str(token),
            "--attrs", str(tmp_path / "attrs"), "--glidein-tarball", str(tarball),
        ]  # fmt: skip
        env = {
            **os.environ,
            "GLIDEIN_CONDOR": "none",
            "GLIDEIN_WORKLOAD_SECONDS": "1",
            "GLIDEIN_LOG_FLUSH_TIMEOUT": "10",
        }
        result = await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                command, cwd=tmp_path, env=env, capture_output=True, timeout=90, check=False
            )
        )
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        async with httpx.AsyncClient(base_url=server.url) as client:
            records = (
                await client.get("/api/v1/logs", params={"glidein": "pilot-1", "limit": 1000})
            ).json()["records"]
            glideins = (await client.get("/api/v1/glideins")).json()["glideins"]
    events = [r["event"] for r in records]
    assert events[0] == "glidein.start"
    assert "validate.disk" in events
    assert events[-1] == "glidein.end"
    assert [r["seq"] for r in records] == sorted({r["seq"] for r in records})
    assert glideins[0]["state"] == "ended"
    assert glideins[0]["record_count"] == len(records)
