"""The viewer's session (issue 14 §4): opaque id, same-origin JSON only, security headers."""

from __future__ import annotations

from pathlib import Path

from aglidein.services.auth import SESSION_COOKIE, same_origin
from tests.services.test_http import client, make_service


async def test_session_cookie_is_opaque_not_the_token(tmp_path: Path) -> None:
    service = make_service(tmp_path, tokens=True)
    async with client(service, "192.0.2.7") as remote:
        session = await remote.post("/api/v1/session", json={"token": "r-token"})
        assert session.status_code == 200
        cookie = remote.cookies[SESSION_COOKIE]
        assert "r-token" not in cookie
        assert len(cookie) >= 32
        assert (await remote.get("/api/v1/secret")).status_code == 200
        # an invented or stale session id grants nothing
        remote.cookies.set(SESSION_COOKIE, "r-token")
        assert (await remote.get("/api/v1/secret")).status_code == 401
    # tokens changed on reload: every session is forgotten
    service.sessions.clear()
    async with client(service, "192.0.2.7") as remote:
        remote.cookies.set(SESSION_COOKIE, cookie)
        assert (await remote.get("/api/v1/secret")).status_code == 401
    service.runtime.state.close()


async def test_session_refuses_cross_origin_and_plain_text(tmp_path: Path) -> None:
    service = make_service(tmp_path, tokens=True)
    async with client(service, "192.0.2.7") as remote:
        evil = await remote.post(
            "/api/v1/session",
            json={"token": "r-token"},
            headers={"Origin": "https://evil.example"},
        )
        assert evil.status_code == 403
        assert SESSION_COOKIE not in remote.cookies
        text = await remote.post(
            "/api/v1/session",
            content=b'{"token": "r-token"}',
            headers={"Content-Type": "text/plain"},
        )
        assert text.status_code == 415
        same = await remote.post(
            "/api/v1/session", json={"token": "r-token"}, headers={"Origin": "http://aglidein"}
        )
        assert same.status_code == 200
    service.runtime.state.close()


async def test_session_without_token_files_is_refused(tmp_path: Path) -> None:
    service = make_service(tmp_path, tokens=False)
    async with client(service, "192.0.2.7") as remote:
        answer = await remote.post("/api/v1/session", json={"token": "anything"})
        assert answer.status_code == 403
        assert "localhost" in answer.json()["error"]
    service.runtime.state.close()


async def test_viewer_and_api_send_security_headers(tmp_path: Path) -> None:
    service = make_service(tmp_path, tokens=False)
    async with client(service, "127.0.0.1") as local:
        for path in ("/", "/app.js", "/api/v1/status", "/healthz"):
            response = await local.get(path)
            assert response.status_code == 200, path
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
    service.runtime.state.close()


def test_same_origin_accepts_the_public_url_behind_a_proxy() -> None:
    from starlette.requests import Request

    def request(origin: str, host: str = "127.0.0.1:8080") -> Request:
        headers = [(b"host", host.encode()), (b"origin", origin.encode())]
        return Request({"type": "http", "headers": headers, "method": "POST", "path": "/"})

    public = "https://logs.example.org/aglidein"
    assert same_origin(request("https://logs.example.org"), public)
    assert same_origin(request("http://127.0.0.1:8080"), public)
    assert not same_origin(request("https://evil.example"), public)
    assert not same_origin(request("https://logs.example.org"), None)


async def test_a_huge_sign_in_body_is_refused_unread(tmp_path: Path) -> None:
    service = make_service(tmp_path, tokens=True)
    async with client(service, "192.0.2.7") as remote:
        huge = await remote.post(
            "/api/v1/session",
            content=b'{"token": "' + b"x" * 100_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413
    service.runtime.state.close()
