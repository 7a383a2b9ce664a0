"""Exit statuses: 0 ok, 1 user error with a message, 2 usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from aglidein.cli import main
from tests.conftest import MINIMAL_CONFIG


def test_usage_error_is_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_run_says_which_file_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        MINIMAL_CONFIG.format(
            state_dir=tmp_path / "s", closed_port=1, key=tmp_path / "nokey", http_port=0
        )
    )
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "pool.signing_key" in err
    assert "no such file" in err
    assert "Traceback" not in err


def test_run_refuses_a_world_readable_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "POOL"
    key.write_bytes(b"secret")
    key.chmod(0o644)
    config = tmp_path / "c.yaml"
    config.write_text(
        MINIMAL_CONFIG.format(state_dir=tmp_path / "s", closed_port=1, key=key, http_port=0)
    )
    assert main(["run", "--config", str(config)]) == 1
    assert "readable by others" in capsys.readouterr().err


def test_reload_without_a_daemon_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reload", "--url", "http://127.0.0.1:1"]) == 1
    assert "cannot reach the daemon" in capsys.readouterr().err


def test_run_on_a_taken_port_is_one_clear_line(
    tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "c.yaml"
        config.write_text(
            MINIMAL_CONFIG.format(
                state_dir=tmp_path / "s", closed_port=1, key=signing_key, http_port=port
            )
        )
        assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"cannot bind 127.0.0.1:{port}" in err
    assert "Traceback" not in err
