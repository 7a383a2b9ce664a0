"""The viewer's user-job filter (in the URL, so a link finds a job's glidein) and the
glidein view: the user jobs it ran and links to its .out/.err files. Real Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson
import pytest
from playwright.async_api import async_playwright, expect

from tests.services.glidein_logs.helpers import log_server
from tests.tools import need
from tests.web.test_viewer import ARGS, post

TS = "2026-01-01T01:00:00Z"


def records(*items: dict[str, object]) -> bytes:
    return b"\n".join(orjson.dumps({"level": "info", "ts": TS, **r}) for r in items)


@pytest.mark.browser
async def test_job_filter_deep_link_and_the_glidein_view(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        await post(
            server,
            "glidein-a",
            records(
                {"seq": 0, "event": "glidein.start", "msg": "glidein starting"},
                {"seq": 1, "event": "job.end", "job": "1234.0@vo", "owner": "alice",
                 "start_time": 1767228600, "end_time": 1767229000, "exit_code": 0},
            ),
        )  # fmt: skip
        await post(server, "glidein-b", records({"seq": 0, "event": "glidein.start"}))
        entry_dir = server.state_dir / "glideins" / "ENTRY_A"
        entry_dir.mkdir(parents=True)
        (entry_dir / "glidein-a.out").write_text("=== Glidein starting ===\n")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=need("chromium"), args=ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 800})
                rows = page.locator("#results tbody tr")
                # a deep link with the job filter finds the glidein that ran it
                await page.goto(server.url + "/?job=1234.0%40vo")
                await expect(page.locator("#job")).to_have_value("1234.0@vo")
                await expect(rows).to_have_count(2, timeout=10_000)
                for name in await rows.locator(".glidein-link").all_inner_texts():
                    assert name == "glidein-a"
                await expect(page.locator("#status")).to_contain_text("1234.0@vo ran on glidein-a")
                # typing a filter puts it in the URL
                await page.fill("#job", "1234")
                await page.fill("#event", "job.end")
                await page.click("#search-btn")
                await expect(rows).to_have_count(1, timeout=10_000)
                query = parse_qs(urlparse(page.url).query)
                assert query["job"] == ["1234"]
                assert query["event"] == ["job.end"]

                # following a glidein shows its user jobs and its files, and is in the URL
                await rows.first.locator(".glidein-link").click()
                jobs = page.locator("#follow-jobs tbody tr")
                await expect(jobs).to_have_count(1, timeout=10_000)
                await expect(jobs.first).to_contain_text("1234.0@vo")
                await expect(jobs.first).to_contain_text("alice")
                assert parse_qs(urlparse(page.url).query)["follow"] == ["glidein-a"]
                links = page.locator("#follow-files a")
                await expect(links).to_have_count(1)
                href = await links.first.get_attribute("href")
                assert href == "/api/v1/glideins/glidein-a/files/out"
                shot = tmp_path / "viewer-jobs.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 0

                # the link works for the signed-in viewer (same-origin, its cookie)
                text = await page.evaluate(
                    "href => fetch(href, {credentials: 'same-origin'}).then(r => r.text())", href
                )
                assert text == "=== Glidein starting ===\n"

                # the whole view comes back from the address alone
                again = await browser.new_page(viewport={"width": 1400, "height": 800})
                await again.goto(page.url)
                await expect(again.locator("#job")).to_have_value("1234")
                await expect(again.locator("#follow-name")).to_have_text("glidein-a")
                await expect(again.locator("#follow-jobs tbody tr")).to_have_count(1)
                await expect(again.locator("#results tbody tr")).to_have_count(1)
            finally:
                await browser.close()
