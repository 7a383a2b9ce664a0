"""The daemon in process: graceful drain bounded by shutdown_grace, TLS re-read on reload."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import anyio
import anyio.abc
import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from aglidein.config import parse_config_text
from aglidein.daemon import Daemon, Subsystems
from aglidein.services.runtime import Runtime
from tests.conftest import MINIMAL_CONFIG
from tests.credential_helpers import certificate
from tests.daemon_helpers import free_port


class StuckService:
    """A worker whose stop() never finishes: the drain must give up after the grace."""

    name = "stuck"

    def __init__(self) -> None:
        self.stop_called = False

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await anyio.sleep_forever()

    async def stop(self) -> None:
        self.stop_called = True
        await anyio.sleep_forever()


def config_text(tmp_path: Path, key: Path, port: int, extra: str = "") -> str:
    text = MINIMAL_CONFIG.format(
        state_dir=tmp_path / "state", closed_port=1, key=key, http_port=port
    )
    return text.replace("shutdown_grace: 10s", "shutdown_grace: 1s") + extra


async def test_drain_gives_up_after_the_grace(tmp_path: Path, signing_key: Path) -> None:
    stuck = StuckService()

    def services(runtime: Runtime) -> Subsystems:
        return Subsystems(workers=[stuck])

    port = free_port()
    daemon = Daemon(parse_config_text(config_text(tmp_path, signing_key, port)), services=services)
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                assert await daemon.run() == 0

            tg.start_soon(run)
            await daemon.ready.wait()
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            started = anyio.current_time()
            daemon.request_stop()
        assert anyio.current_time() - started < 5
    assert stuck.stop_called


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert_pem, key_pem = certificate(time.time() + 86400, name=name)
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    key_path.chmod(0o600)
    return cert_path, key_path


def served_common_name(port: int) -> str:
    import socket

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


async def test_tls_is_served_and_re_read_on_reload(tmp_path: Path, signing_key: Path) -> None:
    cert, key = self_signed(tmp_path, "first")
    port = free_port()
    path = tmp_path / "aglidein.yaml"
    path.write_text(
        config_text(tmp_path, signing_key, port).replace(
            f'listen: ["127.0.0.1:{port}"]',
            f'listen: ["127.0.0.1:{port}"]\n  tls: {{cert: {cert}, key: {key}}}',
        )
    )
    from aglidein.config import load_config

    daemon = Daemon(load_config(path))
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            await daemon.ready.wait()
            assert await anyio.to_thread.run_sync(served_common_name, port) == "first"
            new_dir = tmp_path / "new"
            new_dir.mkdir()
            new_cert, new_key = self_signed(new_dir, "second")
            cert.write_bytes(new_cert.read_bytes())
            key.write_bytes(new_key.read_bytes())
            assert daemon.runtime is not None
            result = await daemon.runtime.config.reload(daemon.metrics)
            assert result.ok
            assert await anyio.to_thread.run_sync(served_common_name, port) == "second"
            daemon.request_stop()
