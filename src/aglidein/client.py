"""How the CLI talks to a running daemon: from `--config` (first `http.listen`, token
files) or `--url` + `--token-file`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import httpx

from aglidein.config import expand_path, load_config
from aglidein.errors import AglideinError

__all__ = ["DaemonClient", "DaemonError", "add_client_arguments", "client_from_args"]


class DaemonError(AglideinError):
    """The daemon could not be reached (`status` None) or answered an HTTP error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config`, `--url`, `--token-file` for commands that call the daemon."""
    parser.add_argument("--config", "-c", help="the daemon's config file (finds URL and tokens)")
    parser.add_argument("--url", help="the daemon's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token-file", help="a file holding the bearer token to send")


@dataclass(frozen=True)
class DaemonClient:
    """A small synchronous client for the daemon's API."""

    base_url: str
    read_token: str | None = None
    admin_token: str | None = None
    timeout: float = 30.0

    def _headers(self, admin: bool) -> dict[str, str]:
        token = self.admin_token if admin else (self.read_token or self.admin_token)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> Any:
        """Call the API; the decoded JSON body, or AglideinError saying what went wrong."""
        url = self.base_url.rstrip("/") + path
        try:
            response = httpx.request(
                method, url, headers=self._headers(admin), timeout=self.timeout, **kwargs
            )
        except httpx.HTTPError as exc:
            raise DaemonError(f"cannot reach the daemon at {self.base_url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200]}
        if response.status_code >= 400 and not (
            isinstance(body, dict) and "ok" in body and response.status_code == 422
        ):
            message = body.get("error") if isinstance(body, dict) else None
            raise DaemonError(
                f"{method} {path}: HTTP {response.status_code}: {message or body}",
                response.status_code,
            )
        return body


def client_from_args(args: argparse.Namespace) -> DaemonClient:
    """A client from `--url/--token-file` or the daemon's `--config`."""
    token: str | None = None
    if getattr(args, "token_file", None):
        try:
            token = expand_path(args.token_file).read_text().strip()
        except OSError as exc:
            raise AglideinError(f"--token-file {args.token_file}: {exc.strerror}") from None
    if getattr(args, "url", None):
        return DaemonClient(base_url=args.url, read_token=token, admin_token=token)
    if not getattr(args, "config", None):
        raise AglideinError("say where the daemon is: --config FILE or --url URL")
    http = load_config(args.config).config.http
    read = token or _read_optional(http.read_token_file)
    admin = token or _read_optional(http.admin_token_file)
    return DaemonClient(base_url=http.base_url(), read_token=read, admin_token=admin)


def _read_optional(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return expand_path(path).read_text().strip() or None
    except OSError:
        return None
