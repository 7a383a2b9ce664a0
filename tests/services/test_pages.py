"""The status pages over HTTP (no browser): rows, health reasons, exits over an hour and a
day, escaping of operator text, the JSON routes, their errors, auth and OpenAPI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aglidein.clock import ManualClock
from aglidein.core.model import EntryHealth
from aglidein.services.auth import TokenSet
from aglidein.services.history import HistoryRecorder
from aglidein.services.http import HttpService
from aglidein.services.pages import StatusPages
from aglidein.services.roster import GlideinRoster
from aglidein.store.history import HistoryPoint, HistoryStore
from tests.adapter_helpers import ENTRY_KINDS, make_config, make_runtime

T0 = 1_800_000_000.0
EVIL = '<script>alert("x")</script>'


@pytest.fixture
def service(tmp_path: Path) -> HttpService:
    config = make_config(
        tmp_path, {"A": ENTRY_KINDS["CE"], "B": ENTRY_KINDS["CE"], "C": ENTRY_KINDS["CE"]}
    )
    clock = ManualClock(T0)
    runtime = make_runtime(config, clock)
    store = HistoryStore(tmp_path / "history.db")
    store.open()
    recorder = HistoryRecorder(store, GlideinRoster())
    board = runtime.status.entries
    board["A"].health = "backoff"
    board["A"].backoff_until = T0 + 600
    board["A"].glideins = {"idle": 2, "running": 7, "held": 1, "black_hole": 3}
    board["A"].decisions = [
        {
            "group": "main",
            "entry": "A",
            "matching_jobs": 40,
            "requested_idle": 5,
            "limited_by": ["backoff"],
        }
    ]
    board["B"].downtime = {"comment": EVIL, "end": "2027-01-15T08:00:00Z", "group": None}
    board["C"].health = "disabled"
    health = {"A": EntryHealth("A", backoff_until=T0 + 600, last_failure_reason="hold_storm")}
    store.record_sync(T0 - 7200, [HistoryPoint("entry", "A", running=3, exits={"ok": 5})])
    store.record_sync(
        T0 - 600,
        [
            HistoryPoint("entry", "A", running=7, submitted=4, exits={"ok": 1, "held": 2}),
            HistoryPoint("group", "main", running=7, exits={"ok": 1}),
        ],
    )
    store.last_submit["A"] = T0 - 600
    recorder.latest = {("group", "main"): HistoryPoint("group", "main", running=7, demand=40)}
    pages = StatusPages(runtime, recorder, lambda: health)
    yield HttpService(runtime, pages.routes())  # type: ignore[misc]
    store.close()
    runtime.state.close()


ZERO_ACCOUNTING = {
    "glidein_hours": 0.0,
    "job_hours": 0.0,
    "badput_hours": 0.0,
    "validation_failures": 0,
    "since": None,
}


@pytest.fixture
def app(service: HttpService) -> object:
    return service.app


def client(app: object, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 4000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_entries_json_has_health_reasons_counts_and_exit_windows(app: object) -> None:
    async with client(app) as http:
        body = (await http.get("/api/v1/entries")).json()
    rows = {r["entry"]: r for r in body["entries"]}
    a = rows["A"]
    assert (a["health"], a["reason"]) == ("backoff", "hold_storm")
    assert a["until"] == "2027-01-15T08:10:00Z"
    assert (a["demand"], a["requested"], a["limited_by"]) == (40, 5, ["backoff"])
    assert a["glideins"] == {"idle": 2, "running": 7, "held": 1, "black_hole": 3}
    assert a["last_submit"] == "2027-01-15T07:50:00Z"
    assert a["exits"] == {"1h": {"ok": 1, "held": 2}, "24h": {"ok": 6, "held": 2}}
    assert (rows["B"]["health"], rows["B"]["reason"]) == ("downtime", EVIL)
    assert (rows["C"]["health"], rows["C"]["reason"]) == ("disabled", "operator")
    assert body["groups"] == [
        {
            "group": "main",
            "demand": 40,
            "requested": 0,
            "glideins": {"idle": 0, "running": 7, "held": 0, "black_hole": 0},
            "exits": {"1h": {"ok": 1}, "24h": {"ok": 1}},
            "accounting": ZERO_ACCOUNTING,
        }
    ]
    # the daemon's status always carries accounting (no rows before a glidein ends)
    assert body["accounting"] is True
    assert a["accounting"] == ZERO_ACCOUNTING


async def test_entries_page_escapes_operator_text_and_links_each_entry(app: object) -> None:
    async with client(app) as http:
        response = await http.get("/entries")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert EVIL not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count('<tr data-entry="') == 3
    assert 'href="/entries/A"' in html
    assert 'href="/?entry=A"' in html
    assert "backoff: hold_storm" in html
    assert "held 2 · ok 1" in html  # the last hour's exits
    assert "<script" not in html.replace("&lt;script", "")  # no script of its own
    assert "style=" not in html  # nothing the Content-Security-Policy would block
    assert '<meta http-equiv="refresh" content="60">' in html  # reloads itself, same URL


async def test_entry_page_and_history_json_by_range(app: object) -> None:
    async with client(app) as http:
        page = await http.get("/entries/A?range=1h")
        assert page.status_code == 200
        assert page.text.count("<svg") == 3
        assert 'data-range="1h"' in page.text
        default = await http.get("/entries/A")
        assert 'data-range="24h"' in default.text
        hour = (await http.get("/api/v1/entries/A/history?range=1h")).json()
        assert (hour["range"], hour["resolution_s"]) == ("1h", 60)
        assert [p["running"] for p in hour["points"]] == [7.0]
        assert hour["points"][0]["exits"] == {"ok": 1, "held": 2}
        day = (await http.get("/api/v1/entries/A/history?range=24h")).json()
        assert [p["running"] for p in day["points"]] == [3.0, 7.0]
        week = (await http.get("/api/v1/entries/A/history?range=7d")).json()
        assert week["resolution_s"] == 600
        bad = await http.get("/api/v1/entries/A/history?range=2d")
        assert bad.status_code == 400
        assert "use one of 1h, 24h, 7d" in bad.json()["error"]
        missing = await http.get("/api/v1/entries/Z/history")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no entry named 'Z'"}
        bad_page = await http.get("/entries/A?range=<b>")
        assert bad_page.status_code == 400
        assert "<b>" not in bad_page.text
        paths = (await http.get("/api/v1/openapi.json")).json()["paths"]
    for path in (
        "/entries",
        "/entries/{name}",
        "/api/v1/entries",
        "/api/v1/entries/{name}/history",
    ):
        assert paths[path]["get"]["x-aglidein-auth"] == "read"
    params = paths["/api/v1/entries/{name}/history"]["get"]["parameters"]
    assert params[1]["schema"]["enum"] == ["1h", "24h", "7d"]


async def test_group_and_factory_pages_and_history_json(app: object) -> None:
    async with client(app) as http:
        page = await http.get("/groups/main?range=1h")
        assert page.status_code == 200
        assert page.text.count("<svg") == 3
        assert "group main" in page.text
        hour = (await http.get("/api/v1/groups/main/history?range=1h")).json()
        assert hour["group"] == "main"
        assert [p["running"] for p in hour["points"]] == [7.0]
        assert hour["points"][0]["exits"] == {"ok": 1}
        factory = await http.get("/factory")
        assert factory.status_code == 200
        assert 'data-range="24h"' in factory.text
        whole = (await http.get("/api/v1/factory/history?range=7d")).json()
        assert (whole["factory"], whole["resolution_s"]) == ("test-factory", 600)
        missing = await http.get("/api/v1/groups/nope/history")
        assert (missing.status_code, missing.json()) == (404, {"error": "no group named 'nope'"})
        assert (await http.get("/groups/nope")).status_code == 404
        assert (await http.get("/api/v1/factory/history?range=2d")).status_code == 400
        entries = await http.get("/entries")
        assert 'href="/groups/main"' in entries.text
        paths = (await http.get("/api/v1/openapi.json")).json()["paths"]
    for path in ("/groups/{name}", "/factory", "/api/v1/groups/{name}/history"):
        assert paths[path]["get"]["x-aglidein-auth"] == "read"


async def test_pages_need_read_access_like_the_viewer(app: object) -> None:
    async with client(app, host="192.0.2.7") as http:  # no read token file: localhost only
        for path in (
            "/entries",
            "/entries/A",
            "/groups/main",
            "/factory",
            "/api/v1/entries",
            "/api/v1/entries/A/history",
            "/api/v1/groups/main/history",
            "/api/v1/factory/history",
        ):
            assert (await http.get(path)).status_code == 403, path


async def test_odd_names_and_ranges_get_a_client_error_never_a_server_error(app: object) -> None:
    odd = ["%00", "A%20B", "%E2%98%83", "x" * 3000, "A%3Cscript%3E", "%25"]
    async with client(app) as http:
        for name in odd:
            for prefix, suffix in (("/entries/", ""), ("/api/v1/entries/", "/history")):
                response = await http.get(prefix + name + suffix)
                assert response.status_code == 404, (name, response.status_code)
        for span in ("", "1H", "%00", "1h%20", "-1", "9" * 100):
            response = await http.get("/api/v1/entries/A/history?range=" + span)
            assert response.status_code == 400, (span, response.status_code)


async def test_with_a_read_token_the_pages_take_it_in_the_url_and_their_links_carry_it(
    service: HttpService,
) -> None:
    service.tokens = TokenSet(read="s3cret-read")
    async with client(service.app, host="192.0.2.7") as http:
        assert (await http.get("/entries")).status_code == 401
        assert (await http.get("/entries?access_token=wrong")).status_code == 403
        page = await http.get("/entries?access_token=s3cret-read")
        assert page.status_code == 200
        assert 'href="/entries/A?access_token=s3cret-read"' in page.text
        assert 'href="/?entry=A&amp;access_token=s3cret-read"' in page.text
        entry = await http.get("/entries/A?range=1h&access_token=s3cret-read")
        assert 'href="/entries/A?range=7d&amp;access_token=s3cret-read"' in entry.text
        bearer = {"Authorization": "Bearer s3cret-read"}
        assert (await http.get("/api/v1/entries", headers=bearer)).status_code == 200


async def test_a_page_refused_for_lack_of_the_read_token_says_how_to_sign_in_in_html(
    service: HttpService,
) -> None:
    service.tokens = TokenSet(read="s3cret-read")
    async with client(service.app, host="192.0.2.7") as http:
        page = await http.get("/entries/A?range=7d")
        assert page.status_code == 401
        assert page.headers["content-type"].startswith("text/html")
        assert "401: read bearer token required" in page.text
        assert 'id="sign-in"' in page.text
        # the viewer's sign-in brings the browser back to the page, range included
        assert 'href="/?next=%2Fentries%2FA%3Frange%3D7d"' in page.text
        assert "<code>/entries/A?access_token=TOKEN</code>" in page.text
        wrong = await http.get("/entries?access_token=wrong")
        assert wrong.status_code == 403
        assert wrong.headers["content-type"].startswith("text/html")
        assert "token not valid" in wrong.text
        assert 'href="/?next=%2Fentries"' in wrong.text  # the wrong token is not carried
        assert "access_token=wrong" not in wrong.text
        # API clients keep the JSON body
        for path in ("/api/v1/entries", "/api/v1/entries/A/history", "/api/v1/status"):
            api = await http.get(path)
            assert api.status_code == 401, path
            assert api.json() == {"error": "read bearer token required"}, path


async def test_a_page_refused_to_a_remote_client_without_read_token_file_is_html_too(
    app: object,
) -> None:
    async with client(app, host="192.0.2.7") as http:  # localhost only: no sign-in helps
        page = await http.get("/entries")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "answers only to localhost" in page.text
    assert 'id="sign-in"' not in page.text
