"""The log viewer in real Chromium: load, search, filter by level, follow a glidein live."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from aglidein.services.history import HistoryRecorder
from aglidein.services.http import ApiRoute
from aglidein.services.pages import StatusPages
from aglidein.services.roster import GlideinRoster
from aglidein.services.runtime import Runtime
from aglidein.store.history import HistoryStore
from tests.services.glidein_logs.helpers import LogServer, eventually, log_server, ndjson
from tests.tools import need

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def post(server: LogServer, glidein: str, body: bytes) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            server.url + "/api/v1/logs", content=body, headers=server.headers(glidein, "ENTRY_A")
        )
    assert response.status_code == 200, response.text


@pytest.mark.browser
async def test_search_filter_and_follow_live(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        await post(server, "glidein-a", ndjson(range(10), msg="cvmfs mount ok {seq}"))
        await post(server, "glidein-a", ndjson([10, 11], level="error", msg="cvmfs mount failed"))
        await post(server, "glidein-b", ndjson(range(5), msg="startd ready {seq}"))
        store = server.logs.store
        await eventually(
            lambda: store.stats().index_lag_s == 0 and store.fts_indexed >= store.last_batch
        )
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=need("chromium"), args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 800})
                console: list[str] = []
                page.on("console", lambda message: console.append(message.text))
                await page.goto(server.url + "/")
                rows = page.locator("#results tbody tr")
                await expect(rows).to_have_count(17, timeout=10_000)
                await expect(page.locator("#glideins li")).to_have_count(2)

                await page.fill("#q", "failed")
                await page.click("#search-btn")
                await expect(rows).to_have_count(2, timeout=10_000)
                await expect(rows.first).to_contain_text("cvmfs mount failed")

                await page.fill("#q", "")
                await page.select_option("#level", "error")
                await expect(rows).to_have_count(2, timeout=10_000)
                for level in await rows.evaluate_all("rs => rs.map(r => r.dataset.level)"):
                    assert level == "error"
                assert await rows.first.locator(".lvl-error").count() == 1

                await page.locator("#glideins .glidein-link", has_text="glidein-b").click()
                followed = page.locator("#follow-records li")
                await expect(followed).to_have_count(5, timeout=10_000)
                await expect(page.locator("#follow-state")).to_have_text("live", timeout=10_000)
                await post(server, "glidein-b", ndjson([5], msg="a brand new record"))
                await post(server, "glidein-a", ndjson([12], msg="not for this panel"))
                await expect(followed).to_have_count(6, timeout=10_000)
                await expect(followed.last).to_contain_text("a brand new record")
                await expect(page.locator("#timeline .mark")).to_have_count(6)
                await expect(page.locator("#events li")).to_have_text(["test.step ×6 00:00:00"])
                # the Content-Security-Policy allows everything the viewer does
                assert not [m for m in console if "Content Security Policy" in m]
                lefts = await page.locator("#timeline .mark").evaluate_all(
                    "ms => ms.map(m => m.style.left)"
                )
                assert all(left.endswith("%") for left in lefts)
                shot = tmp_path / "viewer.png"
                await page.screenshot(path=str(shot), full_page=True)
                print(f"viewer screenshot: {shot}")
            finally:
                await browser.close()


@pytest.mark.browser
async def test_viewer_signs_in_with_the_read_token(tmp_path: Path) -> None:
    async with log_server(tmp_path, read_token="s3cret-read") as server:
        await post(server, "glidein-c", ndjson(range(3), msg="hello {seq}"))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=need("chromium"), args=ARGS)
            try:
                page = await browser.new_page()
                await page.goto(server.url + "/")  # a read token is configured: none sent yet
                await expect(page.locator("#auth")).to_be_visible(timeout=10_000)
                rows = page.locator("#results tbody tr")
                await expect(rows).to_have_count(0)
                await page.fill("#token", "wrong")
                await page.click("#auth-form button")
                await expect(page.locator("#auth-error")).not_to_be_empty()
                await page.goto(server.url + "/?access_token=s3cret-read")
                await expect(rows).to_have_count(3, timeout=10_000)
                await expect(page.locator("#auth")).to_be_hidden()
                await page.locator("#glideins .glidein-link", has_text="glidein-c").click()
                await expect(page.locator("#follow-state")).to_have_text("live", timeout=10_000)
                await post(server, "glidein-c", ndjson([3], msg="after sign in"))
                await expect(page.locator("#follow-records li").last).to_contain_text(
                    "after sign in", timeout=10_000
                )
            finally:
                await browser.close()


@pytest.mark.browser
async def test_a_refused_status_page_leads_through_the_viewers_sign_in_and_back(
    tmp_path: Path,
) -> None:
    history = HistoryStore(tmp_path / "history.db")
    history.open()

    def pages(runtime: Runtime) -> list[ApiRoute]:
        return StatusPages(runtime, HistoryRecorder(history, GlideinRoster()), dict).routes()

    try:
        async with (
            log_server(tmp_path, read_token="s3cret-read", routes=pages) as server,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(executable_path=need("chromium"), args=ARGS)
            try:
                page = await browser.new_page()
                refused = await page.goto(server.url + "/entries?range=1h")
                assert refused is not None
                assert refused.status == 401
                await expect(page.locator("#sign-in")).to_contain_text("read token")
                await page.locator("#sign-in-link").click()
                await expect(page.locator("#auth")).to_be_visible(timeout=10_000)
                await page.fill("#token", "s3cret-read")
                await page.click("#auth-form button")
                await expect(page).to_have_url(server.url + "/entries?range=1h", timeout=10_000)
                await expect(page.locator("#entries")).to_be_visible()
                await expect(page.locator("#sign-in")).to_have_count(0)
            finally:
                await browser.close()
    finally:
        history.close()


@pytest.mark.browser
async def test_every_filter_and_the_followed_glidein_round_trip_through_the_url(
    tmp_path: Path,
) -> None:
    async with log_server(tmp_path) as server:
        await post(server, "glidein-a", ndjson(range(4), msg="cvmfs mount ok {seq}"))
        await post(server, "glidein-a", ndjson([4, 5], level="error", msg="cvmfs mount failed"))
        await post(server, "glidein-b", ndjson(range(3), msg="startd ready {seq}"))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=need("chromium"), args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 800})
                await page.goto(server.url + "/")
                rows = page.locator("#results tbody tr")
                await expect(rows).to_have_count(9, timeout=10_000)
                await page.fill("#entry", "ENTRY_A")
                await page.fill("#glidein", "glidein-a")
                await page.fill("#event", "test.step")
                await page.fill("#since", "2000-01-01T00:00:05")
                await page.select_option("#level", "error")
                await expect(rows).to_have_count(2, timeout=10_000)
                await page.locator("#glideins .glidein-link", has_text="glidein-a").click()
                await expect(page.locator("#follow-state")).to_have_text("live", timeout=10_000)
                link = page.url
                for part in (
                    "entry=ENTRY_A",
                    "glidein=glidein-a",
                    "event=test.step",
                    "level=error",
                    "since=",
                    "follow=glidein-a",
                ):
                    assert part in link, link

                # the same URL in a fresh page opens the same view
                other = await browser.new_page(viewport={"width": 1400, "height": 800})
                await other.goto(link)
                await expect(other.locator("#entry")).to_have_value("ENTRY_A")
                await expect(other.locator("#glidein")).to_have_value("glidein-a")
                await expect(other.locator("#event")).to_have_value("test.step")
                await expect(other.locator("#level")).to_have_value("error")
                await expect(other.locator("#since")).to_have_value("2000-01-01T00:00:05")
                await expect(other.locator("#results tbody tr")).to_have_count(2, timeout=10_000)
                await expect(other.locator("#follow-name")).to_have_text("glidein-a")
                await expect(other.locator("#follow-records li")).to_have_count(6, timeout=10_000)
                await other.click("#unfollow")
                assert "follow=" not in other.url
                await other.goto(server.url + "/?q=failed")
                await expect(other.locator("#q")).to_have_value("failed")
            finally:
                await browser.close()
