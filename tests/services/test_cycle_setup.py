"""The cycle inside a running daemon on the simulated pool: status, metrics, operator API."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import httpx

from aglidein.condor.userlog import append_event, format_event
from tests.daemon_helpers import free_port, simulated_daemon, simulated_pool_config

SCENARIO = {
    "schedds": [{"name": "schedd1", "jobs": [{"count": 50, "attrs": {"DESIRED_Sites": "SiteA"}}]}],
    "entries": {"default": {"queue_time": "1h"}},
}


async def test_daemon_cycles_on_the_simulated_pool(tmp_path: Path, signing_key: Path) -> None:
    port = free_port()
    daemon = simulated_daemon(
        simulated_pool_config(tmp_path, signing_key, port, SCENARIO), tmp_path
    )
    base = f"http://127.0.0.1:{port}"
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            async with httpx.AsyncClient(base_url=base) as client:
                entry: dict[str, object] = {}
                while not entry.get("glideins", {}).get("idle"):  # type: ignore[union-attr]
                    await anyio.sleep(0.2)
                    try:
                        status = (await client.get("/api/v1/status")).json()
                    except httpx.HTTPError:
                        continue
                    entry = next((e for e in status["entries"] if e["name"] == "A"), {})
                assert entry["health"] == "ok"
                assert entry["decisions"]
                drained = await client.post("/api/v1/entries/A/drain", json={"hard": False})
                assert drained.json()["health"] == "draining"
                metrics = (await client.get("/metrics")).text
                assert 'aglidein_submissions_total{entry="A",result="success"}' in metrics
                while entry["glideins"]["idle"]:  # type: ignore[index]
                    await anyio.sleep(0.2)
                    status = (await client.get("/api/v1/status")).json()
                    entry = next(e for e in status["entries"] if e["name"] == "A")
                assert entry["health"] == "draining"
            daemon.request_stop()


async def test_the_daemon_counts_an_old_user_log_then_deletes_it(
    tmp_path: Path, signing_key: Path
) -> None:
    port = free_port()
    config = simulated_pool_config(tmp_path, signing_key, port, SCENARIO)
    old = tmp_path / "state" / "glideins" / "A" / "glideins-20200101.log"
    body = "(1) Normal termination (return value 12)"
    append_event(old, format_event(5, 1, 0, 0.0, "Job terminated.", body))
    past = time.time() - 40 * 86400  # older than the default logs.retention (30 days)
    os.utime(old, (past, past))
    daemon = simulated_daemon(config, tmp_path)
    base = f"http://127.0.0.1:{port}"
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            async with httpx.AsyncClient(base_url=base) as client:
                metrics = ""
                while 'reason="black_hole"' not in metrics:
                    await anyio.sleep(0.2)
                    try:
                        metrics = (await client.get("/metrics")).text
                    except httpx.HTTPError:
                        continue
            daemon.request_stop()
    # counted in the scan that deleted it (the file is deleted after it was read)
    assert 'aglidein_glidein_exits_total{entry="A",group="unknown",reason="black_hole"} 1.0' in (
        metrics
    )
    assert not old.exists()
