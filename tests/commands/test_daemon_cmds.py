"""`aglidein run` and `aglidein reload`: argument errors, bad configs, and what reload
sends and prints (against a stub HTTP server on 127.0.0.1, no daemon)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aglidein.cli import main
from tests.daemon_helpers import free_port


class _Stub(ThreadingHTTPServer):
    reply: dict[str, Any]
    seen: list[tuple[str, str, str | None]]


class _Handler(BaseHTTPRequestHandler):
    server: _Stub

    def do_POST(self) -> None:
        self.server.seen.append(("POST", self.path, self.headers.get("Authorization")))
        body = json.dumps(self.server.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _Handler)
    server.reply = {"ok": True}
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _url(server: _Stub) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_run_needs_a_config() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2


def test_run_with_a_missing_config_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.yaml"
    assert main(["run", "--config", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aglidein: ")
    assert str(missing) in err


def test_reload_needs_to_know_where_the_daemon_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reload"]) == 1
    assert "--config FILE or --url URL" in capsys.readouterr().err


def test_reload_accepted_prints_the_answer_and_exits_0(
    stub: _Stub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    stub.reply = {"ok": True, "changed": ["groups"]}
    assert main(["reload", "--url", _url(stub), "--token-file", str(token)]) == 0
    assert json.loads(capsys.readouterr().out) == stub.reply
    assert stub.seen == [("POST", "/api/v1/reload", "Bearer s3cret")]


def test_reload_refused_lists_errors_and_restart_keys(
    stub: _Stub, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.reply = {"ok": False, "errors": ["groups: bad"], "restart_keys": ["http.listen", "x"]}
    assert main(["reload", "--url", _url(stub)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False
    assert "error: groups: bad\n" in captured.err
    assert "error: restart the daemon to change http.listen, x\n" in captured.err


def test_a_config_with_errors_still_reaches_the_daemon_from_its_http_section(
    stub: _Stub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = tmp_path / "admin.token"
    admin.write_text("adm1n\n")
    admin.chmod(0o600)
    config = tmp_path / "aglidein.yaml"
    config.write_text(
        f"http:\n  listen: ['127.0.0.1:{stub.server_address[1]}']\n"
        f"  admin_token_file: {admin}\nfactory: 12\n"
    )
    stub.reply = {"ok": False, "errors": ["factory: not a mapping"]}
    assert main(["reload", "--config", str(config)]) == 1
    assert stub.seen == [("POST", "/api/v1/reload", "Bearer adm1n")]
    assert "error: factory: not a mapping" in capsys.readouterr().err


def test_a_config_without_a_usable_http_section_raises_the_first_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "aglidein.yaml"
    config.write_text("http:\n  listen: 5\nfactory: 12\n")
    assert main(["reload", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aglidein: ")
    assert "factory" in err  # the full config's errors, not only the http section's


def test_reload_of_an_unreachable_daemon_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["reload", "--url", url]) == 1
    assert f"cannot reach the daemon at {url}" in capsys.readouterr().err
