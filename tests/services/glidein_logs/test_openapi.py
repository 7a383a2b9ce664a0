"""Schemathesis over the OpenAPI document: no request the document allows gets a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.services.glidein_logs.helpers import log_server, ndjson

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
OPERATIONS = [("GET", "/api/v1/logs"), ("POST", "/api/v1/logs"), ("GET", "/api/v1/glideins")]


def fuzz(operation: Any, base_url: str, headers: dict[str, str], mode: GenerationMode) -> None:
    """Call one operation with generated requests; none may answer 5xx."""

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        assert response.status_code < 500, (case.method, case.path, response.text)

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(tmp_path: Path, mode: GenerationMode) -> None:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(log_server(tmp_path)) as server,
    ):
        token = server.token("fuzz")
        httpx.post(
            server.url + "/api/v1/logs",
            content=ndjson(range(50), msg="fuzz word {seq}"),
            headers=server.headers("fuzz"),
        ).raise_for_status()
        doc = httpx.get(server.url + "/api/v1/openapi.json").json()
        schema = schemathesis.openapi.from_dict(doc)
        operations = {}
        for result in schema.get_all_operations():
            operation = result.ok()
            operations[(operation.method.upper(), operation.path)] = operation
        assert set(OPERATIONS) <= set(operations)
        for key in OPERATIONS:
            operation = operations[key]
            headers = {"Authorization": f"Bearer {token}"} if key[0] == "POST" else {}

            fuzz(operation, server.url, headers, mode)
