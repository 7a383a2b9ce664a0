"""Who may call what (DESIGN §8): `none`, `read`, `admin`; `log` is checked by the ingest.

`read` = bearer from `http.read_token_file`, the viewer's session cookie, or
`?access_token=`; `admin` = bearer from `http.admin_token_file`, which also satisfies
`read`. When a token file is unset, that class answers only to clients on localhost.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import HTTPConnection

from aglidein.config import HttpConfig, expand_path
from aglidein.errors import CredentialError
from aglidein.logkeys import read_private_file

__all__ = ["SESSION_COOKIE", "Access", "AccessDenied", "TokenSet", "check_access"]

SESSION_COOKIE = "aglidein_session"


class Access(enum.StrEnum):
    """The auth class of an endpoint."""

    NONE = "none"
    READ = "read"
    ADMIN = "admin"
    LOG = "log"  # a per-glidein log token, verified by the ingest itself


class AccessDenied(Exception):
    """401 (no or unknown credentials) or 403 (not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
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


def presented_token(conn: HTTPConnection, *, allow_cookie: bool) -> str | None:
    """The bearer token, else (for read) the session cookie or `?access_token=`."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if allow_cookie:
        cookie = conn.cookies.get(SESSION_COOKIE)
        if cookie:
            return cookie
        query = conn.query_params.get("access_token")
        if query:
            return query
    return None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def check_access(conn: HTTPConnection, access: Access, tokens: TokenSet) -> None:
    """Raise AccessDenied unless the request may use an endpoint of class `access`."""
    if access in (Access.NONE, Access.LOG):
        return
    token = presented_token(conn, allow_cookie=access is Access.READ)
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
        raise AccessDenied(401, "read bearer token required")
    if not _same(token, tokens.read):
        raise AccessDenied(403, "token not valid for the read API")


def token_file_exists(path: str | None) -> bool:
    """A configured token file is present (for run-time checks)."""
    return path is None or Path(expand_path(path)).exists()
