"""Who may use which endpoint: localhost without tokens, bearer tokens by class, viewer
sessions that expire, and the same-origin rule for browsers."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from aglidein.services.auth import (
    SESSION_COOKIE,
    SESSION_LIFETIME_S,
    Access,
    AccessDenied,
    Sessions,
    TokenSet,
    check_access,
    same_origin,
    token_access,
)


def _request(
    host: str = "127.0.0.1", headers: dict[str, str] | None = None, query: str = ""
) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": raw,
        "query_string": query.encode(),
        "client": (host, 5000),
    }
    return Request(scope)


TOKENS = TokenSet(read="r-token", admin="a-token")


def test_without_tokens_only_localhost_gets_in() -> None:
    check_access(_request(), Access.ADMIN, TokenSet())
    with pytest.raises(AccessDenied, match="only to localhost") as denied:
        check_access(_request("10.0.0.1"), Access.READ, TokenSet())
    assert denied.value.status == 403
    check_access(_request("10.0.0.1"), Access.LOG, TokenSet())  # verified by the ingest


@pytest.mark.parametrize(
    ("access", "headers", "query", "status"),
    [
        (Access.READ, {"Authorization": "Bearer r-token"}, "", None),
        (Access.READ, {"Authorization": "Bearer a-token"}, "", None),  # admin can read
        (Access.READ, {}, "access_token=r-token", None),
        (Access.READ, {}, "", 401),
        (Access.READ, {"Authorization": "Bearer nope"}, "", 403),
        (Access.ADMIN, {"Authorization": "Bearer r-token"}, "", 403),
        (Access.ADMIN, {}, "access_token=a-token", 401),  # never from the URL
        (Access.ADMIN, {"Authorization": "bearer a-token"}, "", None),
    ],
)
def test_tokens_grant_their_class(
    access: Access, headers: dict[str, str], query: str, status: int | None
) -> None:
    request = _request("10.0.0.1", headers, query)
    if status is None:
        check_access(request, access, TOKENS)
        return
    with pytest.raises(AccessDenied) as denied:
        check_access(request, access, TOKENS)
    assert denied.value.status == status


def test_a_viewer_session_reads_until_it_expires() -> None:
    clock = [0.0]
    sessions = Sessions(now=lambda: clock[0])
    session = sessions.open(token_access("r-token", TOKENS) or Access.NONE)
    request = _request("10.0.0.1", {"Cookie": f"{SESSION_COOKIE}={session}"})
    check_access(request, Access.READ, TOKENS, sessions)
    with pytest.raises(AccessDenied):
        check_access(request, Access.ADMIN, TOKENS, sessions)
    clock[0] = SESSION_LIFETIME_S
    assert sessions.access(session) is None
    with pytest.raises(AccessDenied):
        check_access(request, Access.READ, TOKENS, sessions)


def test_browsers_must_come_from_this_server_or_its_public_url() -> None:
    assert same_origin(_request(headers={}))
    assert same_origin(_request(headers={"Origin": "http://h:8080", "Host": "h:8080"}))
    assert not same_origin(_request(headers={"Origin": "http://evil", "Host": "h:8080"}))
    proxied = _request(headers={"Origin": "https://f.example.org", "Host": "127.0.0.1:8080"})
    assert same_origin(proxied, "https://f.example.org/aglidein")
