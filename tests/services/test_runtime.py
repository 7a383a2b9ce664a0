"""A reload applies fully or is refused, is counted and logged by the daemon, and `status`
shows when the file on disk is not the config in force (issue 14 §4, §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from aglidein.cli import main
from aglidein.config import load_config
from aglidein.daemon import Daemon
from aglidein.statusview import config_drift
from tests.daemon_helpers import free_port
from tests.test_daemon_inprocess import config_text


def failures(daemon: Daemon) -> float:
    value = daemon.metrics.config_reloads.labels(result="failure")._value.get()
    return float(value)


@asynccontextmanager
async def running(tmp_path: Path, signing_key: Path, extra: str = "") -> AsyncIterator[Daemon]:
    port = free_port()
    path = tmp_path / "aglidein.yaml"
    path.write_text(config_text(tmp_path, signing_key, port, extra))
    daemon = Daemon(load_config(path))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            await daemon.ready.wait()
            try:
                yield daemon
            finally:
                daemon.request_stop()


def token_file(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("t0ken\n")
    path.chmod(mode)
    return path


async def test_a_key_that_needs_a_restart_is_refused_and_counted(
    tmp_path: Path, signing_key: Path
) -> None:
    async with running(tmp_path, signing_key) as daemon:
        assert daemon.runtime is not None
        holder = daemon.runtime.config
        path = tmp_path / "aglidein.yaml"
        before = holder()
        text = path.read_text()
        listen = before.http.listen[0]
        path.write_text(
            text.replace(listen, f"127.0.0.1:{free_port()}").replace(
                "shutdown_grace: 1s", "shutdown_grace: 2s"
            )
        )
        result = await holder.reload(daemon.metrics)
        assert not result.ok
        assert result.restart_keys == ("http.listen",)
        assert any("http.listen" in e and "restart" in e for e in result.errors)
        assert holder() is before  # nothing applied, not even shutdown_grace
        assert failures(daemon) == 1
        path.write_text(text.replace("factory:\n  name: test-factory", "factory:\n  name: other"))
        result = await holder.reload(daemon.metrics)
        assert result.restart_keys == ("factory.name",)
        assert failures(daemon) == 2
        state_dir = str(before.factory.state_dir)
        path.write_text(text.replace(state_dir, state_dir + "-moved"))
        result = await holder.reload(daemon.metrics)
        assert result.restart_keys == ("factory.state_dir",)
        assert holder() is before
        assert failures(daemon) == 3


@pytest.mark.parametrize("problem", ["world-readable", "missing"])
async def test_a_token_file_that_cannot_be_read_refuses_the_reload(
    tmp_path: Path, signing_key: Path, problem: str
) -> None:
    good = token_file(tmp_path, "read.token", 0o600)
    async with running(tmp_path, signing_key, "") as daemon:
        assert daemon.runtime is not None
        holder = daemon.runtime.config
        path = tmp_path / "aglidein.yaml"
        text = path.read_text()
        bad = token_file(tmp_path, "bad.token", 0o644)
        if problem == "missing":
            bad.unlink()
        listen = holder().http.listen[0]
        path.write_text(
            text.replace(f'listen: ["{listen}"]', f'listen: ["{listen}"]\n  read_token_file: {bad}')
        )
        with capture_logs() as logs:
            result = await holder.reload(daemon.metrics)
        assert not result.ok
        assert str(bad) in result.errors[0]
        assert holder().http.read_token_file is None  # the live config did not move
        assert failures(daemon) == 1
        assert any(e["event"] == "config.reload_refused" for e in logs)
        async with httpx.AsyncClient() as client:  # still open to localhost: no token in force
            assert (await client.get(f"http://{listen}/api/v1/status")).status_code == 200
        # a private file applies
        path.write_text(
            text.replace(
                f'listen: ["{listen}"]', f'listen: ["{listen}"]\n  read_token_file: {good}'
            )
        )
        assert (await holder.reload(daemon.metrics)).ok
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://{listen}/api/v1/status")).status_code == 401


async def test_cli_reload_of_a_bad_file_reaches_the_daemon_and_status_shows_drift(
    tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(tmp_path, signing_key) as daemon:
        assert daemon.runtime is not None
        path = tmp_path / "aglidein.yaml"
        listen = daemon.runtime.config().http.listen[0]
        status = await anyio.to_thread.run_sync(daemon.runtime.config.file_state)
        assert status["file_matches"] is True
        good = path.read_text()
        path.write_text(good.replace("shutdown_grace: 1s", "shutdown_grace: 1s\n  bogus: 1"))
        code = await anyio.to_thread.run_sync(main, ["reload", "--config", str(path)])
        assert code == 1
        assert "factory.bogus: unknown key" in capsys.readouterr().err
        assert failures(daemon) == 1
        async with httpx.AsyncClient() as client:
            document = (await client.get(f"http://{listen}/api/v1/status")).json()
        config = document["config"]
        assert config["file_matches"] is False
        assert config["last_reload"]["ok"] is False
        line = config_drift(document)
        assert line is not None
        assert "differs from the config in force" in line
        assert "refused" in line
        path.write_text(good)
        assert await anyio.to_thread.run_sync(main, ["reload", "--config", str(path)]) == 0
        async with httpx.AsyncClient() as client:
            document = (await client.get(f"http://{listen}/api/v1/status")).json()
        assert document["config"]["file_matches"] is True
        assert config_drift(document) is None


async def test_an_unloadable_tls_key_pair_refuses_the_reload(
    tmp_path: Path, signing_key: Path
) -> None:
    from tests.test_daemon_inprocess import self_signed, served_common_name

    cert, key = self_signed(tmp_path, "first")
    extra_tls = f"  tls: {{cert: {cert}, key: {key}}}\n"
    port = free_port()
    path = tmp_path / "aglidein.yaml"
    text = config_text(tmp_path, signing_key, port)
    path.write_text(text.replace("http:\n", "http:\n" + extra_tls))
    daemon = Daemon(load_config(path))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            await daemon.ready.wait()
            assert daemon.runtime is not None
            cert.write_text("not a certificate\n")
            result = await daemon.runtime.config.reload(daemon.metrics)
            assert not result.ok
            assert "http.tls" in result.errors[0]
            assert failures(daemon) == 1
            assert await anyio.to_thread.run_sync(served_common_name, port) == "first"
            daemon.request_stop()
