"""The cycle inside a running daemon on the simulated pool: status, metrics, operator API."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx

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
