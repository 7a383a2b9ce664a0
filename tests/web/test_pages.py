"""The status pages in real Chromium, served by a daemon on the simulated pool: the entries
table against the JSON, links to the entry page and to the viewer, ranges switched in the
URL, accounting columns when the status has them, and screenshots whose pixels show the
charts were drawn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import numpy as np
import pytest
import yaml
from playwright.async_api import Page, async_playwright, expect

from aglidein.clock import ScaledClock
from aglidein.config import parse_config_text
from aglidein.daemon import Daemon, Subsystems, default_services
from aglidein.services.cycle import CycleService
from aglidein.services.pages_html import STATE_COLOURS
from aglidein.services.runtime import Runtime, StatusBoard
from tests.conftest import REPO
from tests.daemon_helpers import free_port
from tests.tools import need
from tests.web.png import read_png
from tests.web.test_viewer import ARGS

ENTRIES = ["ASIA_Storm", "EU_BlackHole", "US_Outage", "US_Wisconsin"]
ACCOUNTING = [
    {
        "group": "cms",
        "entry": "US_Wisconsin",
        "glidein_hours": 12.5,
        "job_hours": 10.0,
        "badput_hours": 2.5,
        "validation_failures": 3,
        "since": "2026-01-01T00:00:00Z",
    },
    {
        "group": "atlas",
        "entry": "US_Wisconsin",
        "glidein_hours": 1.0,
        "job_hours": 0.5,
        "badput_hours": 0.5,
        "validation_failures": 0,
        "since": "2026-01-02T00:00:00Z",
    },
]


def demo_config(tmp_path: Path, key: Path, port: int) -> str:
    """The demo's config on its scenario, four entries, a cycle every 0.4 s."""
    data: dict[str, Any] = yaml.safe_load((REPO / "conf" / "demo.yaml").read_text())
    data["factory"].update(state_dir=str(tmp_path / "state"), cycle="0.4s", shutdown_grace="5s")
    if os.geteuid() == 0:
        data["factory"]["job_owner"] = "nobody"
    data["pool"].update(signing_key=str(key), simulate=str(REPO / "conf" / "demo-scenario.yaml"))
    data["http"]["listen"] = [f"127.0.0.1:{port}"]
    data["entries"] = [e for e in data["entries"] if e["name"] in ENTRIES]
    return yaml.safe_dump(data)


@dataclass
class Served:
    url: str
    cycle: CycleService
    accounting: list[dict[str, Any]] | None = None


@asynccontextmanager
async def demo_daemon(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    port = free_port()
    parts: list[Subsystems] = []

    def services(runtime: Runtime) -> Subsystems:
        parts.append(default_services(runtime))
        return parts[0]

    loaded = parse_config_text(demo_config(tmp_path, key, port))
    # one simulated minute per cycle
    daemon = Daemon(loaded, clock=ScaledClock(150), services=services)
    served = Served(f"http://127.0.0.1:{port}", cycle=None)  # type: ignore[arg-type]
    plain = StatusBoard.as_json

    def with_accounting(board: StatusBoard) -> dict[str, Any]:
        document = plain(board)
        # first a status without accounting (columns omitted), then with chosen rows
        if served.accounting is None:
            document.pop("accounting", None)
        else:
            document["accounting"] = served.accounting
        return document

    monkeypatch.setattr(StatusBoard, "as_json", with_accounting)
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            assert await daemon.run() == 0

        tg.start_soon(run)
        with anyio.fail_after(30):
            await daemon.ready.wait()
        served.cycle = next(w for w in parts[0].workers if isinstance(w, CycleService))
        try:
            yield served
        finally:
            daemon.request_stop()


async def get_json(url: str) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def colour_pixels(image: np.ndarray, box: dict[str, float], colour: str, tol: int = 40) -> int:
    """Pixels inside `box` (CSS px = image px here) within `tol` of `colour`."""
    x, y = int(box["x"]), int(box["y"])
    area = image[y : y + int(box["height"]), x : x + int(box["width"])].astype(int)
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(area - rgb).sum(axis=2) <= tol).sum())


async def screenshot(page: Page, path: Path) -> np.ndarray:
    await page.screenshot(path=str(path), full_page=True)
    image = read_png(path)
    assert image.shape[1] == 1400  # the viewport's width: the page was laid out
    assert image.shape[0] >= 400
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20  # not blank
    print(f"screenshot: {path}")
    return image


@pytest.mark.browser
async def test_entries_and_entry_pages_in_chromium(
    tmp_path: Path, signing_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with demo_daemon(tmp_path, signing_key, monkeypatch) as served:
        url = served.url

        async def enough_history() -> bool:
            history = await get_json(url + "/api/v1/entries/US_Wisconsin/history?range=1h")
            return len(history["points"]) >= 12

        with anyio.fail_after(60):
            while not await enough_history():  # noqa: ASYNC110
                await anyio.sleep(0.2)
        await served.cycle.stop()  # freeze the numbers: the page and the JSON must agree
        await anyio.sleep(1.0)
        document = await get_json(url + "/api/v1/entries")
        assert "accounting" not in document["entries"][0]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=need("chromium"), args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 800})
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))

                # --- /entries: one row per entry, values as in the JSON ------------------
                await page.goto(url + "/entries")
                rows = page.locator("#entries tbody tr")
                await expect(rows).to_have_count(len(ENTRIES))
                names = await rows.evaluate_all("rs => rs.map(r => r.dataset.entry)")
                assert names == sorted(ENTRIES)
                for entry in document["entries"]:
                    row = page.locator(f'#entries tr[data-entry="{entry["entry"]}"]')
                    glideins = entry["glideins"]
                    for cls, value in (
                        ("demand", entry["demand"]),
                        ("requested", entry["requested"]),
                        ("idle", glideins["idle"]),
                        ("running", glideins["running"]),
                        ("held", glideins["held"]),
                        ("black-hole", glideins["black_hole"]),
                    ):
                        await expect(row.locator(f"td.{cls}")).to_have_text(str(value))
                    await expect(row.locator("td.health")).to_contain_text(entry["health"])
                wisconsin = page.locator('#entries tr[data-entry="US_Wisconsin"]')
                assert int(await wisconsin.locator("td.running").inner_text()) > 0
                await expect(wisconsin.locator("td.last-submit time")).to_have_count(1)
                totals = page.locator("#totals tbody tr")
                await expect(totals).to_have_count(4)  # cms, atlas, ml-gpu, factory
                factory = page.locator("#totals tr.factory")
                await expect(factory.locator("td.running")).to_have_text(
                    str(document["factory"]["glideins"]["running"])
                )
                await expect(page.locator("#entries th", has_text="glidein h")).to_have_count(0)
                image = await screenshot(page, tmp_path / "entries.png")
                box = await page.locator("#entries").bounding_box()
                assert box is not None
                assert colour_pixels(image, box, "#2e7d32") > 20  # health "ok" drawn green

                # --- entry row -> entry page with charts; ranges in the URL ---------------
                await wisconsin.locator("a.entry-link").click()
                await expect(page).to_have_url(url + "/entries/US_Wisconsin")
                await expect(page.locator("#entry-name")).to_have_text("US_Wisconsin")
                charts = page.locator("#charts")
                await expect(charts).to_have_attribute("data-range", "24h")
                await expect(charts.locator("svg")).to_have_count(3)
                await page.locator("#ranges a", has_text="1h").click()
                await expect(page).to_have_url(url + "/entries/US_Wisconsin?range=1h")
                await expect(charts).to_have_attribute("data-range", "1h")
                await expect(page.locator("#ranges a.current")).to_have_text("1h")
                first = charts.locator("svg").first
                lines = first.locator("polyline.series")
                assert await lines.count() >= 2
                strokes = await lines.evaluate_all("ls => ls.map(l => l.getAttribute('stroke'))")
                assert STATE_COLOURS["running"] in strokes
                image = await screenshot(page, tmp_path / "entry-1h.png")
                chart_box = await first.bounding_box()
                assert chart_box is not None
                assert colour_pixels(image, chart_box, STATE_COLOURS["running"]) > 30
                demand_box = await charts.locator("svg").nth(1).bounding_box()
                assert demand_box is not None
                assert colour_pixels(image, demand_box, STATE_COLOURS["demand"]) > 30

                await page.goto(url + "/entries/US_Wisconsin?range=7d")
                await expect(charts).to_have_attribute("data-range", "7d")
                await expect(page.locator("#ranges a.current")).to_have_text("7d")
                await screenshot(page, tmp_path / "entry-7d.png")
                response = await page.goto(url + "/entries/US_Wisconsin?range=2d")
                assert response is not None
                assert response.status == 400
                await expect(page.locator("#error")).to_contain_text("use one of 1h, 24h, 7d")
                response = await page.goto(url + "/entries/" + quote("<b>nope"))
                assert response is not None
                assert response.status == 404
                await expect(page.locator("#error")).to_contain_text("no entry named '<b>nope'")

                # --- a group's and the factory's totals link to their charts ----------------
                await page.goto(url + "/entries")
                await page.locator('#totals tr[data-group="cms"] a.total-link').click()
                await expect(page).to_have_url(url + "/groups/cms")
                await expect(page.locator("#total-name")).to_have_text("group cms")
                await expect(charts.locator("svg")).to_have_count(3)
                image = await screenshot(page, tmp_path / "group-cms.png")
                group_box = await charts.locator("svg").first.bounding_box()
                assert group_box is not None
                assert colour_pixels(image, group_box, STATE_COLOURS["running"]) > 30
                await page.goto(url + "/entries")
                await page.locator("#totals tr.factory a.total-link").click()
                await expect(page).to_have_url(url + "/factory")
                await expect(page.locator("#total-name")).to_contain_text("factory")
                await expect(charts.locator("svg")).to_have_count(3)

                # --- the row's logs link opens the viewer filtered to the entry -----------
                await page.goto(url + "/entries")
                await wisconsin.locator("a.logs-link").click()
                await expect(page).to_have_url(url + "/?entry=US_Wisconsin")
                await expect(page.locator("#entry")).to_have_value("US_Wisconsin")
                await page.locator("#entries-link").click()
                await expect(page).to_have_url(url + "/entries")

                # --- accounting columns when the status carries accounting ----------------
                served.accounting = ACCOUNTING
                await page.goto(url + "/entries")
                await expect(page.locator("#entries th", has_text="glidein h")).to_have_count(1)
                cells = wisconsin.locator("td.num")
                texts = await cells.all_inner_texts()
                assert texts[-4:] == ["13.5", "10.5", "3.0", "3"]
                cms = page.locator('#totals tr[data-group="cms"] td.num')
                assert (await cms.all_inner_texts())[-4:] == ["12.5", "10.0", "2.5", "3"]
                document = await get_json(url + "/api/v1/entries")
                by_name = {e["entry"]: e for e in document["entries"]}
                assert by_name["US_Wisconsin"]["accounting"]["since"] == "2026-01-01T00:00:00Z"
                assert by_name["US_Outage"]["accounting"]["glidein_hours"] == 0.0
                assert document["factory"]["accounting"]["validation_failures"] == 3
                assert not [m for m in console if "Content Security Policy" in m]
            finally:
                await browser.close()
