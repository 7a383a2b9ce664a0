"""Operator actions on entries: drain, disable, enable persisted; admin only; a config
`enabled: false` wins over `enable`."""

from __future__ import annotations

from pathlib import Path

import httpx

from aglidein.clock import ManualClock
from aglidein.condor.fake import FakePool
from aglidein.core.model import OperatorState
from aglidein.services.http import HttpService
from aglidein.state import StateDB
from tests.adapter_helpers import idtoken_entry
from tests.services.test_cycle import Factory, _config, _scenario


async def test_operator_routes_persist_and_config_disabled_wins(tmp_path: Path) -> None:
    config = _config(
        tmp_path, {"A": idtoken_entry("SiteA"), "E": idtoken_entry("SiteE", enabled=False)}
    )
    clock = ManualClock()
    factory = Factory(tmp_path, config, FakePool(_scenario(), clock=clock), clock)
    app = HttpService(factory.runtime, factory.routes).app
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/api/v1/entries/A/drain", json={"hard": True})
        assert response.status_code == 200
        assert response.json() == {
            "entry": "A",
            "operator": "draining",
            "drain_hard": True,
            "health": "draining",
            "config_enabled": True,
        }
        response = await client.post("/api/v1/entries/E/enable")
        assert response.json()["health"] == "disabled"
        assert (await client.post("/api/v1/entries/nope/disable")).status_code == 404
        assert (await client.post("/api/v1/entries/A/drain", content=b"[1]")).status_code == 400
        openapi = (await client.get("/api/v1/openapi.json")).json()
        assert "/api/v1/entries/{name}/drain" in openapi["paths"]
    remote = httpx.ASGITransport(app=app, client=("192.0.2.1", 4000))
    async with httpx.AsyncClient(transport=remote, base_url="http://test") as client:
        assert (await client.post("/api/v1/entries/A/disable")).status_code in (401, 403)
    factory.close()
    state = StateDB.open(Path(config.factory.state_dir) / "state.db")
    saved = await state.load_health()
    assert saved["A"].operator is OperatorState.DRAINING
    assert saved["A"].drain_hard
    state.close()
