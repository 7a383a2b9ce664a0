"""The downtime routes: admin to change, read to list, the daemon's clock for times."""

from __future__ import annotations

from pathlib import Path

import httpx

from aglidein.clock import ManualClock
from aglidein.condor.fake import FakePool
from aglidein.services.http import HttpService
from tests.adapter_helpers import idtoken_entry
from tests.services.test_cycle import Factory, _config, _scenario


async def test_routes_validate_use_the_daemon_clock_and_refresh_the_status(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, {"A": idtoken_entry("SiteA"), "B": idtoken_entry("SiteB")})
    clock = ManualClock()
    factory = Factory(tmp_path, config, FakePool(_scenario(), clock=clock), clock)
    app = HttpService(factory.runtime, factory.routes).app
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    now = clock.now()
    async with httpx.AsyncClient(transport=local, base_url="http://test") as client:
        response = await client.post(
            "/api/v1/downtimes", json={"entry": "A", "end": "+1h", "comment": "upgrade"}
        )
        assert response.status_code == 201
        added = response.json()
        assert added["entry"] == "A"
        assert added["state"] == "in force"
        assert added["group"] is None
        # the daemon's clock, not the wall clock, reads "now" and "+1h"
        assert added["end"] == _iso(now + 3600)
        status = factory.runtime.status.as_json()
        assert [d["id"] for d in status["downtimes"]] == [added["id"]]

        for body, problem in (
            (b"[1]", "body must be a JSON object"),
            (b"{", "body must be a JSON object"),
            (b'{"entry": "A"}', "comment is required"),
            (b'{"comment": "x"}', "entry is required"),
            (b'{"entry": "A", "comment": "x", "until": "+1h"}', "unknown field 'until'"),
            (b'{"entry": 3, "comment": "x"}', "entry must be a string"),
            (b'{"entry": "A", "comment": "a\\nb"}', "one line"),
        ):
            response = await client.post("/api/v1/downtimes", content=body)
            assert response.status_code == 400, body
            assert problem in response.json()["error"], response.json()
        assert (await client.delete("/api/v1/downtimes/x")).status_code == 400
        assert (await client.delete("/api/v1/downtimes/42")).status_code == 404
        assert (await client.delete("/api/v1/downtimes/" + "9" * 30)).status_code == 404

        clock.advance(7200)  # over: listed only with ?all=1
        assert (await client.get("/api/v1/downtimes")).json() == {"downtimes": []}
        every = (await client.get("/api/v1/downtimes?all=1")).json()["downtimes"]
        assert [(d["id"], d["state"]) for d in every] == [(added["id"], "over")]

        paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
        assert paths["/api/v1/downtimes"]["get"]["x-aglidein-auth"] == "read"
        assert paths["/api/v1/downtimes"]["post"]["x-aglidein-auth"] == "admin"
        assert paths["/api/v1/downtimes/{id}"]["delete"]["x-aglidein-auth"] == "admin"
        assert "201" in paths["/api/v1/downtimes"]["post"]["responses"]
    remote = httpx.ASGITransport(app=app, client=("192.0.2.1", 4000))
    async with httpx.AsyncClient(transport=remote, base_url="http://test") as client:
        denied = await client.post("/api/v1/downtimes", json={"entry": "A", "comment": "x"})
        assert denied.status_code in (401, 403)
        assert (await client.delete(f"/api/v1/downtimes/{added['id']}")).status_code in (401, 403)
    factory.close()


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
