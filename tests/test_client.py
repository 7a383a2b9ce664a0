"""How the CLI reaches the daemon: the right token per call, errors that say what
happened, and where the daemon is from --url or --config."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from aglidein.client import DaemonClient, DaemonError, client_from_args
from aglidein.errors import AglideinError


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        status, body = {
            "/ok": (200, f'{{"auth": "{auth}"}}'),
            "/refused": (422, '{"ok": false, "errors": ["bad"]}'),
            "/missing": (404, '{"error": "no entry named x"}'),
            "/text": (500, "boom"),
        }[self.path]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_reads_and_admin_calls_send_their_own_token(base_url: str) -> None:
    client = DaemonClient(base_url, read_token="r", admin_token="a", timeout=10)
    assert client.request("GET", "/ok") == {"auth": "Bearer r"}
    assert client.request("GET", "/ok", admin=True) == {"auth": "Bearer a"}
    assert DaemonClient(base_url, timeout=10).request("GET", "/ok") == {"auth": ""}


def test_errors_say_what_the_daemon_answered(base_url: str) -> None:
    client = DaemonClient(base_url, timeout=10)
    assert client.request("GET", "/refused") == {"ok": False, "errors": ["bad"]}  # a refusal
    with pytest.raises(DaemonError, match="GET /missing: HTTP 404: no entry named x") as err:
        client.request("GET", "/missing")
    assert err.value.status == 404
    with pytest.raises(DaemonError, match="HTTP 500: boom"):
        client.request("GET", "/text")
    with pytest.raises(DaemonError, match="cannot reach the daemon") as err:
        DaemonClient("http://127.0.0.1:1", timeout=5).request("GET", "/ok")
    assert err.value.status is None


def test_where_the_daemon_is_comes_from_the_arguments(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0k\n")
    args = argparse.Namespace(url="http://h:1", token_file=str(token), config=None)
    assert client_from_args(args) == DaemonClient("http://h:1", "t0k", "t0k")
    with pytest.raises(AglideinError, match="--config FILE or --url URL"):
        client_from_args(argparse.Namespace(url=None, token_file=None, config=None))
    missing = argparse.Namespace(url="http://h:1", token_file=str(tmp_path / "no"), config=None)
    with pytest.raises(AglideinError, match="--token-file"):
        client_from_args(missing)
