"""Auth classes of DESIGN §8 and the built-in endpoints, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from aglidein.clock import ManualClock
from aglidein.config import parse_config_text
from aglidein.services.auth import Access
from aglidein.services.http import ApiRoute, HttpService, json_response
from aglidein.services.metrics import Metrics
from aglidein.services.runtime import ConfigHolder, Runtime, StatusBoard
from aglidein.state import StateDB

CONFIG = """\
factory: {{name: f, state_dir: {state}}}
pool: {{collector: 127.0.0.1:1, trust_domain: t, signing_key: /k}}
http: {{listen: ["127.0.0.1:0"]{tokens}}}
"""


def make_service(tmp_path: Path, tokens: bool) -> HttpService:
    extra = ""
    if tokens:
        for name, value in (("read", "r-token"), ("admin", "a-token")):
            path = tmp_path / f"{name}.token"
            path.write_text(value + "\n")
            path.chmod(0o600)
            extra += f", {name}_token_file: {path}"
    loaded = parse_config_text(CONFIG.format(state=tmp_path, tokens=extra))
    runtime = Runtime(
        config=ConfigHolder(loaded),
        metrics=Metrics(),
        clock=ManualClock(),
        state=StateDB.open(tmp_path / "state.db"),
        status=StatusBoard(factory_name="f", started=0.0),
    )

    async def secret(request: object) -> object:
        return json_response({"secret": True})

    return HttpService(
        runtime, [ApiRoute("/api/v1/secret", secret, summary="test", access=Access.READ)]
    )


def client(service: HttpService, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=service.app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://aglidein")


@pytest.fixture
async def open_service(tmp_path: Path) -> AsyncIterator[HttpService]:
    service = make_service(tmp_path, tokens=False)
    yield service
    service.runtime.state.close()


async def test_without_token_files_only_localhost(open_service: HttpService) -> None:
    async with (
        client(open_service, "127.0.0.1") as local,
        client(open_service, "192.0.2.7") as remote,
    ):
        assert (await local.get("/api/v1/status")).status_code == 200
        assert (await local.get("/api/v1/secret")).json() == {"secret": True}
        assert (await remote.get("/api/v1/status")).status_code == 403
        assert (await remote.post("/api/v1/reload")).status_code == 403
        assert (await remote.get("/healthz")).status_code == 200
        assert (await remote.get("/metrics")).status_code == 200


async def test_token_matrix(tmp_path: Path) -> None:
    service = make_service(tmp_path, tokens=True)
    read = {"Authorization": "Bearer r-token"}
    admin = {"Authorization": "Bearer a-token"}
    wrong = {"Authorization": "Bearer nope"}
    async with client(service, "192.0.2.7") as remote, client(service, "127.0.0.1") as local:
        assert (await remote.get("/api/v1/status")).status_code == 401
        assert (await local.get("/api/v1/status")).status_code == 401  # a token file means a token
        assert (await remote.get("/api/v1/status", headers=wrong)).status_code == 403
        assert (await remote.get("/api/v1/status", headers=read)).status_code == 200
        assert (await remote.get("/api/v1/status", headers=admin)).status_code == 200
        assert (await remote.get("/api/v1/status?access_token=r-token")).status_code == 200
        assert (await remote.post("/api/v1/reload", headers=read)).status_code == 403
        assert (
            await remote.post("/api/v1/reload", headers=admin)
        ).status_code == 422  # no file to reload
        # the viewer's session cookie
        assert (await remote.post("/api/v1/session", json={"token": "nope"})).status_code == 403
        session = await remote.post("/api/v1/session", json={"token": "r-token"})
        assert session.status_code == 200
        assert "httponly" in session.headers["set-cookie"].lower()
        assert (await remote.get("/api/v1/secret")).status_code == 200  # cookie kept by the client
    service.runtime.state.close()


async def test_openapi_marks_auth(open_service: HttpService) -> None:
    async with client(open_service, "127.0.0.1") as local:
        doc = (await local.get("/api/v1/openapi.json")).json()
    assert doc["paths"]["/api/v1/secret"]["get"]["x-aglidein-auth"] == "read"
    assert doc["paths"]["/api/v1/reload"]["post"]["x-aglidein-auth"] == "admin"
    assert doc["paths"]["/healthz"]["get"]["x-aglidein-auth"] == "none"


async def test_readyz_reports_failed_checks(open_service: HttpService) -> None:
    async with client(open_service, "127.0.0.1") as local:
        assert (await local.get("/readyz")).status_code == 503  # not started yet
        open_service.runtime.status.ready = True
        assert (await local.get("/readyz")).status_code == 200
        open_service.ready_checks.append(lambda: (False, "store not writable"))
        body = (await local.get("/readyz")).json()
    assert body["problems"] == ["store not writable"]
