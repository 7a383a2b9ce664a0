"""conf/: alert rules pass promtool and their unit tests; the dashboard queries real metrics."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from aglidein.clock import ManualClock
from aglidein.config import parse_config_text
from aglidein.services.http import HttpService
from aglidein.services.metrics import Metrics
from aglidein.services.runtime import ConfigHolder, Runtime, StatusBoard
from aglidein.state import StateDB
from tests.tools import need

CONF = Path(__file__).resolve().parents[1] / "conf"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("promtool"), *args], capture_output=True, text=True, cwd=CONF / "prometheus"
    )


def test_alert_rules_check() -> None:
    result = promtool("check", "rules", "aglidein.rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_unit_tests() -> None:
    result = promtool("test", "rules", "aglidein.rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


async def exported_names(tmp_path: Path) -> set[str]:
    loaded = parse_config_text(
        f"factory: {{name: f, state_dir: {tmp_path}}}\n"
        "pool: {collector: 127.0.0.1:1, trust_domain: t, signing_key: /k}\n"
    )
    runtime = Runtime(
        config=ConfigHolder(loaded),
        metrics=Metrics(),
        clock=ManualClock(),
        state=StateDB.open(tmp_path / "state.db"),
        status=StatusBoard(factory_name="f", started=0.0),
    )
    service = HttpService(runtime)
    transport = httpx.ASGITransport(app=service.app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
        text = (await client.get("/metrics")).text
    runtime.state.close()
    names = set()
    for line in text.splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)", line)
        if match:
            name, kind = match.groups()
            names.add(name)
            if kind == "histogram":
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
            if kind == "counter":
                names.add(f"{name}_total")
    return names


async def test_dashboard_queries_only_exported_metrics(tmp_path: Path) -> None:
    dashboard = json.loads((CONF / "grafana" / "aglidein-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 20
    names = await exported_names(tmp_path)
    used = {name for expr in exprs for name in re.findall(r"\baglidein_[a-z0-9_]+", expr)}
    assert used
    assert sorted(used - names) == []


async def test_alert_rules_query_only_exported_metrics(tmp_path: Path) -> None:
    text = (CONF / "prometheus" / "aglidein.rules.yml").read_text()
    used = set(re.findall(r"\baglidein_[a-z0-9_]+", text))
    assert sorted(used - await exported_names(tmp_path)) == []


async def test_a_misspelt_metric_would_be_caught(tmp_path: Path) -> None:
    assert "aglidein_glideinz" not in await exported_names(tmp_path)
