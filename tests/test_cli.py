"""Exit statuses: 0 ok, 1 user error with a message, 2 usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_ctrl_c_in_a_command_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import aglidein.commands.config_cmds as config_cmds

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(config_cmds, "check_config", interrupted)
    assert main(["check-config", "x.yaml"]) == 130
    assert capsys.readouterr().err == "aglidein: interrupted\n"


def test_ctrl_c_while_the_command_loads_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    def interrupted(name: str) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib, "import_module", interrupted)
    assert main(["status"]) == 130
    assert capsys.readouterr().err == "aglidein: interrupted\n"


def test_ctrl_c_inside_a_task_group_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import aglidein.commands.config_cmds as config_cmds

    def interrupted(args: object) -> int:
        raise BaseExceptionGroup("tasks", [KeyboardInterrupt(), RuntimeError("worker died")])

    monkeypatch.setattr(config_cmds, "check_config", interrupted)
    assert main(["check-config", "x.yaml"]) == 130
    assert capsys.readouterr().err == "aglidein: interrupted\n"


def test_ctrl_c_of_a_real_process_group_prints_no_traceback(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)  # opening it blocks: the command waits there for the signal
    proc = subprocess.Popen(
        [sys.executable, "-m", "aglidein", "check-config", str(fifo)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # started from a shell without job control, SIGINT may come in ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == b"aglidein: interrupted\n"


@pytest.mark.parametrize(
    ("argv", "absent"),
    [
        (["--version"], ["numpy", "htcondor2", "starlette", "uvicorn", "anyio", "structlog"]),
        (["token", "log", "--help"], ["numpy", "starlette", "uvicorn"]),
        (["status", "--help"], ["numpy", "starlette", "uvicorn"]),
        (["logs", "search", "--help"], ["numpy", "starlette", "uvicorn"]),
        (["plan", "--help"], ["numpy", "starlette", "uvicorn"]),
    ],
)
def test_a_command_imports_only_what_it_needs(argv: list[str], absent: list[str]) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom aglidein.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {absent!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from aglidein.cli import COMMANDS

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def _hold_state_dir(state_dir: Path) -> Any:
    """Another process holding `state_dir` (as a running daemon does); it prints its pid."""
    import subprocess
    import sys

    code = (
        "import os, sys, time\nfrom pathlib import Path\nfrom aglidein.state import StateDirLock\n"
        f"lock = StateDirLock.acquire(Path({str(state_dir)!r}))\n"
        "print(os.getpid(), flush=True)\ntime.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    holder.pid_line = holder.stdout.readline().strip()  # type: ignore[attr-defined]
    return holder


def test_a_second_daemon_or_demo_on_a_state_dir_is_refused_read_only_commands_work(
    tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from aglidein.state import StateDB

    state_dir = tmp_path / "state"
    config = tmp_path / "c.yaml"
    config.write_text(
        MINIMAL_CONFIG.format(state_dir=state_dir, closed_port=1, key=signing_key, http_port=0)
        + "groups:\n  - name: main\n    schedds: [s1]\n    match: 'true'\n"
        + "entries:\n  - name: LOCAL1\n    gridtype: local\n"
    )
    state_dir.mkdir()
    StateDB.open(state_dir / "state.db").close()
    holder = _hold_state_dir(state_dir)
    try:
        pid = holder.pid_line
        assert main(["run", "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"in use by another aglidein (pid {pid}," in err
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        assert main(["demo", "--state-dir", str(state_dir), "--port", str(port), "--no-tty"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"(pid {pid}," in err
        assert not (state_dir / "aglidein.yaml").exists()  # the demo wrote nothing there
        # reading is not running: plan and check-config still work
        assert main(["check-config", str(config)]) == 0
        assert main(["plan", "--config", str(config), "--jobs", str(tmp_path / "none")]) == 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
