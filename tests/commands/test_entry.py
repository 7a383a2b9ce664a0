"""`aglidein entry enable|disable NAME` and `aglidein drain NAME [--hard]`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aglidein.cli import main


class Recorder:
    def __init__(self, status: int = 200) -> None:
        self.calls: list[tuple[str, str, Any, dict[str, str]]] = []
        self.status = status

    def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.calls.append((method, url, kwargs.get("json"), kwargs.get("headers") or {}))
        body = {"entry": "CE1", "operator": "draining"} if self.status == 200 else {"error": "no"}
        return httpx.Response(self.status, json=body)


@pytest.mark.parametrize(
    ("argv", "path", "body"),
    [
        (["entry", "disable", "CE1"], "/api/v1/entries/CE1/disable", None),
        (["entry", "enable", "CE1"], "/api/v1/entries/CE1/enable", None),
        (["drain", "CE1"], "/api/v1/entries/CE1/drain", {"hard": False}),
        (["drain", "CE1", "--hard"], "/api/v1/entries/CE1/drain", {"hard": True}),
    ],
)
def test_commands_post_the_admin_action(
    argv: list[str],
    path: str,
    body: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = tmp_path / "admin.token"
    token.write_text("s3cret\n")
    recorder = Recorder()
    monkeypatch.setattr(httpx, "request", recorder)
    status = main([*argv, "--url", "http://127.0.0.1:9", "--token-file", str(token)])
    assert status == 0
    ((method, url, sent, headers),) = recorder.calls
    assert (method, url, sent) == ("POST", "http://127.0.0.1:9" + path, body)
    assert headers["Authorization"] == "Bearer s3cret"
    assert '"operator": "draining"' in capsys.readouterr().out


def test_unknown_entry_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(httpx, "request", Recorder(status=404))
    assert main(["entry", "disable", "NOPE", "--url", "http://127.0.0.1:9"]) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_entry_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["entry"])
    assert exc.value.code == 2
