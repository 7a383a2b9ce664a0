"""Who may call what (DESIGN §8): `none`, `read`, `admin`; `log` is checked by the ingest.

`read` = bearer from `http.read_token_file`, the viewer's session cookie, or
`?access_token=`; `admin` = bearer from `http.admin_token_file`, which also satisfies
`read`. When a token file is unset, that class answers only to clients on localhost.

The session cookie holds an opaque random id, never a token: `Sessions` maps it to the
class of token that opened it, and forgets every session when the tokens change.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import HTTPConnection

from aglidein.config import HttpConfig, expand_path
from aglidein.errors import CredentialError
from aglidein.logkeys import read_private_file

__all__ = [
    "SESSION_COOKIE",
    "SESSION_LIFETIME_S",
    "Access",
    "AccessDenied",
    "Sessions",
    "TokenSet",
    "check_access",
    "same_origin",
]

SESSION_COOKIE = "aglidein_session"
SESSION_LIFETIME_S = 12 * 3600
MAX_SESSIONS = 10_000


class Access(enum.StrEnum):
    """The auth class of an endpoint."""

    NONE = "none"
    READ = "read"
    ADMIN = "admin"
    LOG = "log"  # a per-glidein log token, verified by the ingest itself


class AccessDenied(Exception):
    """401 (no or unknown credentials) or 403 (not allowed); `sign_in`: the read token
    would let the client in (a page can say how to sign in)."""

    def __init__(self, status: int, message: str, *, sign_in: bool = False) -> None:
        self.status = status
        self.sign_in = sign_in
        super().__init__(message)


@dataclass(frozen=True)
class TokenSet:
    """The bearer tokens in force (re-read on reload); None = localhost only."""

    read: str | None = None
    admin: str | None = None

    @classmethod
    def from_config(cls, http: HttpConfig) -> TokenSet:
        """Read the token files named in the config (each must be private)."""
        return cls(
            read=_read_token(http.read_token_file, "read token file"),
            admin=_read_token(http.admin_token_file, "admin token file"),
        )


class Sessions:
    """Viewer sessions: opaque ids, each bound to the token class that opened it."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._by_id: OrderedDict[str, tuple[Access, float]] = OrderedDict()

    def open(self, access: Access) -> str:
        """A new session id granting `access` for SESSION_LIFETIME_S."""
        session = secrets.token_urlsafe(32)
        self._by_id[session] = (access, self._now() + SESSION_LIFETIME_S)
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return session

    def access(self, session: str) -> Access | None:
        """What the session grants; None when unknown or expired."""
        found = self._by_id.get(session)
        if found is None:
            return None
        access, expires = found
        if expires <= self._now():
            del self._by_id[session]
            return None
        return access

    def clear(self) -> None:
        """Forget every session (the tokens changed)."""
        self._by_id.clear()

    def __len__(self) -> int:
        return len(self._by_id)


def _read_token(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    token = read_private_file(expand_path(path), what).decode("utf-8", "replace").strip()
    if not token:
        raise CredentialError(f"{what} {path}: file is empty")
    return token


def is_local(conn: HTTPConnection) -> bool:
    """The client connected from a loopback address."""
    host = conn.client.host if conn.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def same_origin(conn: HTTPConnection, public_url: str | None = None) -> bool:
    """No `Origin` header (not a browser), or one naming this server: the `Host` it was
    reached by, or the origin of `http.public_url` (behind a reverse proxy)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    host = conn.headers.get("host", "")
    allowed = {f"http://{host}".lower(), f"https://{host}".lower()} if host else set()
    if public_url:
        scheme, _, rest = public_url.partition("://")
        allowed.add(f"{scheme}://{rest.split('/', 1)[0]}".lower())
    return origin.rstrip("/").lower() in allowed


def presented_token(conn: HTTPConnection, *, allow_query: bool) -> str | None:
    """The bearer token, else (for read) `?access_token=`."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if allow_query:
        query = conn.query_params.get("access_token")
        if query:
            return query
    return None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def token_access(token: str, tokens: TokenSet) -> Access | None:
    """The class a presented token proves (compared in constant time), None if neither."""
    if _same(token, tokens.admin):
        return Access.ADMIN
    if _same(token, tokens.read):
        return Access.READ
    return None


def check_access(
    conn: HTTPConnection, access: Access, tokens: TokenSet, sessions: Sessions | None = None
) -> None:
    """Raise AccessDenied unless the request may use an endpoint of class `access`."""
    if access in (Access.NONE, Access.LOG):
        return
    token = presented_token(conn, allow_query=access is Access.READ)
    if token is None and access is Access.READ and sessions is not None:
        cookie = conn.cookies.get(SESSION_COOKIE)
        if cookie and sessions.access(cookie) in (Access.READ, Access.ADMIN):
            return
    if access is Access.ADMIN:
        if tokens.admin is None:
            if is_local(conn):
                return
            raise AccessDenied(403, "admin API answers only to localhost (no admin_token_file)")
        if token is None:
            raise AccessDenied(401, "admin bearer token required")
        if not _same(token, tokens.admin):
            raise AccessDenied(403, "token not valid for the admin API")
        return
    # read: the admin token also satisfies it
    if _same(token, tokens.admin):
        return
    if tokens.read is None:
        if is_local(conn):
            return
        raise AccessDenied(403, "read API answers only to localhost (no read_token_file)")
    if token is None:
        raise AccessDenied(401, "read bearer token required", sign_in=True)
    if not _same(token, tokens.read):
        raise AccessDenied(403, "token not valid for the read API", sign_in=True)


def token_file_exists(path: str | None) -> bool:
    """A configured token file is present (for run-time checks)."""
    return path is None or Path(expand_path(path)).exists()
