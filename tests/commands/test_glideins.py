"""`aglidein glideins` and `GET /api/v1/glideins` as an operator uses them: a daemon on the
simulated pool, glideins on the queue, one that posted logs, one started by hand."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from aglidein.logkeys import LogKeyring
from tests.daemon_helpers import free_port, simulated_daemon, simulated_pool_config

SCENARIO = {
    "schedds": [{"name": "schedd1", "jobs": [{"count": 3, "attrs": {"DESIRED_Sites": "SiteA"}}]}],
    "entries": {"default": {"queue_time": "1s", "run_time": "6s", "jitter": 0}},
}


async def _cli(*argv: str) -> str:
    done = await anyio.run_process(
        [sys.executable, "-m", "aglidein", *argv], check=False, stderr=subprocess.PIPE
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def _wait(client: httpx.AsyncClient, want: Any, within_s: float = 40.0) -> list[Any]:
    deadline = time.monotonic() + within_s
    rows: list[Any] = []
    while time.monotonic() < deadline:
        try:
            rows = (await client.get("/api/v1/glideins")).json()["glideins"]
        except httpx.HTTPError:
            rows = []
        if want(rows):
            return rows
        await anyio.sleep(0.3)
    raise AssertionError(f"glideins never reached the wanted state: {rows}")


def _post_logs(client: httpx.AsyncClient, state_dir: Path, glidein: str, entry: str) -> Any:
    token = LogKeyring.load(state_dir).mint(glidein, entry, now=time.time(), lifetime=600)
    lines = [
        {
            "seq": 1,
            "ts": "2026-12-07T04:00:00Z",
            "level": "info",
            "event": "pilot.start",
            "msg": "a",
        },
        {"seq": 2, "ts": "2026-12-07T04:00:01Z", "level": "info", "event": "startd.up", "msg": "b"},
    ]
    return client.post(
        "/api/v1/logs",
        content=b"\n".join(json.dumps(line).encode() for line in lines),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )


async def test_the_glidein_list_shows_queue_logs_and_recent_ends(
    tmp_path: Path, signing_key: Path
) -> None:
    port = free_port()
    loaded = simulated_pool_config(
        tmp_path, signing_key, port, SCENARIO, group_limits={"ramp_up_attenuation": 1}
    )
    daemon = simulated_daemon(loaded, tmp_path, with_logs=True)
    base = f"http://127.0.0.1:{port}"
    state_dir = tmp_path / "state"
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                rows = await _wait(
                    client, lambda rows: any(r["job_state"] == "running" for r in rows)
                )
                running = next(r for r in rows if r["job_state"] == "running")
                posted = await _post_logs(client, state_dir, running["glidein"], "A")
                assert posted.status_code == 200, posted.text
                assert (await _post_logs(client, state_dir, "by-hand-1", "A")).status_code == 200

                listed = json.loads(await _cli("glideins", "--url", base, "--json"))
                by_id = {r["glidein"]: r for r in listed}
                row = by_id[running["glidein"]]
                assert row["job_id"] == running["job_id"]
                assert re.fullmatch(r"\d+\.\d+", row["job_id"])
                assert row["group"] == "main"
                assert row["entry"] == "A"
                assert row["grid_job_id"].startswith("condor ce.sitea.example.org ")
                assert row["worker"] == f"glidein-{running['glidein']}"
                assert row["started"]
                assert row["queued"]
                assert row["record_count"] == 2
                assert row["state"] == "active"  # what the viewer shows: the logs' state
                assert row["last_record"]["event"] == "startd.up"
                hand = by_id["by-hand-1"]
                assert hand["job_id"] is None
                assert hand["job_state"] is None
                assert hand["state"] == "active"
                # glideins that never posted are listed too
                assert any(r["state"] == "none" and r["job_id"] for r in listed)

                only_running = json.loads(
                    await _cli("glideins", "--url", base, "--state", "running", "--json")
                )
                assert only_running
                assert {r["job_state"] for r in only_running} == {"running"}
                assert (
                    json.loads(await _cli("glideins", "--url", base, "--entry", "B", "--json"))
                    == []
                )
                table = await _cli("glideins", "--url", base)
                for text in ("job id", "grid job id", running["job_id"], "startd.up"):
                    assert text in table

                ended = await _wait(
                    client,
                    lambda rows: any(r["job_state"] == "ended" and r["exit_reason"] for r in rows),
                )
                gone = next(r for r in ended if r["job_state"] == "ended" and r["exit_reason"])
                assert gone["ended"]
                assert gone["exit_code"] == 0
                page = (await client.get("/api/v1/glideins", params={"limit": 1})).json()
                assert len(page["glideins"]) == 1
                assert page["next_cursor"].startswith("r:")
                # walking the pages gives every glidein once: the queue's, then by-hand-1
                # (the daemon keeps cycling: a glidein may be submitted during the walk)
                before = (await client.get("/api/v1/glideins")).json()["glideins"]
                walked, params = [], {"limit": 2}
                while True:
                    page = (await client.get("/api/v1/glideins", params=params)).json()
                    walked += [r["glidein"] for r in page["glideins"]]
                    if not page["next_cursor"]:
                        break
                    params["cursor"] = page["next_cursor"]
                after = (await client.get("/api/v1/glideins")).json()["glideins"]
                assert {r["glidein"] for r in before} <= set(walked)
                assert set(walked) <= {r["glidein"] for r in after}
                assert walked[-1] == "by-hand-1"
                assert len(set(walked)) == len(walked)
                bad = await client.get("/api/v1/glideins", params={"state": "sleeping"})
                assert bad.status_code == 400
                assert "state must be one of" in bad.json()["error"]
            daemon.request_stop()
