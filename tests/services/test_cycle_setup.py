"""The cycle inside a running daemon on the simulated pool: status, metrics, operator API."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import yaml

from aglidein.clock import SystemClock
from aglidein.condor.fake import FakePool
from aglidein.config import parse_config_text
from aglidein.daemon import Daemon, Subsystems
from aglidein.runtime import Runtime
from aglidein.services.cycle_setup import build_cycle, pool_for
from aglidein.services.glidein_files import PilotKit
from tests.adapter_helpers import idtoken_entry, placeholder_pilot
from tests.daemon_helpers import free_port

SCENARIO = {
    "schedds": [{"name": "schedd1", "jobs": [{"count": 50, "attrs": {"DESIRED_Sites": "SiteA"}}]}],
    "entries": {"default": {"queue_time": "1h"}},
}


async def test_daemon_cycles_on_the_simulated_pool(tmp_path: Path, signing_key: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    port = free_port()
    config = {
        "factory": {"name": "sim", "state_dir": str(tmp_path / "state"), "cycle": "1s"},
        "pool": {
            "collector": "cm.example.org:9618",
            "trust_domain": "example.org",
            "signing_key": str(signing_key),
            "simulate": str(scenario),
        },
        "http": {"listen": [f"127.0.0.1:{port}"]},
        "groups": [
            {
                "name": "main",
                "schedds": ["schedd1"],
                "match": "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
            }
        ],
        "entries": [{"name": "A", **idtoken_entry("SiteA")}],
    }
    loaded = parse_config_text(yaml.safe_dump(config))
    pilot = placeholder_pilot(tmp_path)

    def services(runtime: Runtime) -> Subsystems:
        pool = pool_for(runtime)
        assert isinstance(pool, FakePool)
        cycle, routes = build_cycle(runtime, pool=pool, kit=PilotKit(runtime.state_dir, pilot))
        return Subsystems(workers=[cycle], routes=routes)

    daemon = Daemon(loaded, clock=SystemClock(), services=services)
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
