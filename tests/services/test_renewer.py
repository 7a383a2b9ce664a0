"""The renewer: refresh commands that succeed, fail, hang or lie; OAuth2; what it publishes."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from aglidein.clock import SystemClock
from aglidein.config import load_config
from aglidein.core.credstate import credential_blocks_new_glideins, entry_credential_block
from aglidein.credentials import jwt_expiry
from aglidein.daemon import default_services
from aglidein.services.metrics import Metrics
from aglidein.services.refresh import STDERR_LOG_LIMIT, redact_secrets
from aglidein.services.renewer import Renewer
from aglidein.services.runtime import ConfigHolder, Runtime, StatusBoard
from aglidein.state import StateDB
from tests.credential_helpers import config_text, proxy_file, scitoken, write_private
from tests.service_helpers import running

HOUR = 3600.0


_OPEN: list[StateDB] = []


@pytest.fixture(autouse=True)
def _close_state_dbs() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _runtime(tmp_path: Path, credentials: str, entries: str = "") -> Runtime:
    path = tmp_path / "aglidein.yaml"
    path.write_text(config_text(tmp_path, credentials=credentials, entries=entries))
    loaded = load_config(path)
    (tmp_path / "state").mkdir(exist_ok=True)
    state = StateDB.open(tmp_path / "state" / "state.db")
    _OPEN.append(state)
    return Runtime(
        config=ConfigHolder(loaded),
        metrics=Metrics(),
        clock=SystemClock(),
        state=state,
        status=StatusBoard(factory_name="test-factory", started=time.time()),
    )


@asynccontextmanager
async def _running(renewer: Renewer) -> AsyncIterator[Renewer]:
    with anyio.fail_after(60):
        async with running(renewer):
            yield renewer


async def _until(condition: Callable[[], bool], seconds: float = 30) -> None:
    with anyio.fail_after(seconds):
        while True:
            if condition():
                return
            await anyio.sleep(0.05)


def _renewals(runtime: Runtime, name: str, result: str) -> float:
    value = runtime.metrics.registry.get_sample_value(
        "aglidein_credential_renewals_total", {"credential": name, "result": result}
    )
    return value or 0.0


def _scitoken_cred(tmp_path: Path, command: str, extra: str = "") -> str:
    return f"""\
  - name: osg
    type: scitoken
    path: {tmp_path / "creds" / "osg.token"}
    refresh_command: ['/bin/sh', '-c', '{command}']
    min_lifetime: 1h
{extra}"""


SCITOKEN_ENTRY = """\
  - name: OSG_CE
    gridtype: condor
    gatekeeper: ce3.example.org ce3.example.org:9619
    auth: {method: scitoken, credential: osg}
"""


async def test_refresh_that_succeeds_installs_the_new_token(tmp_path: Path) -> None:
    fresh = scitoken(time.time() + 3 * HOUR)
    write_private(tmp_path / "fresh.token", fresh)
    installed = write_private(tmp_path / "creds" / "osg.token", scitoken(time.time() + 600))
    command = f'cat {tmp_path / "fresh.token"} > "$AGLIDEIN_CREDENTIAL_OUT"; echo got it >&2'
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, command), SCITOKEN_ENTRY)
    renewer = Renewer(runtime, check_interval=0.2)
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "success") == 1)
        state = renewer.states()["osg"]
    assert installed.read_text().strip() == fresh
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert state.ok
    assert state.refreshable
    assert state.last_error is None
    assert state.expires == jwt_expiry(fresh.encode())
    assert state.last_renewal is not None
    assert runtime.status.credentials["osg"].expires == state.expires
    assert runtime.status.as_json()["credentials"][0]["name"] == "osg"
    gauge = runtime.metrics.registry.get_sample_value(
        "aglidein_credential_expiry_timestamp_seconds", {"credential": "osg"}
    )
    assert gauge == state.expires
    config = runtime.config()
    now = time.time()
    assert entry_credential_block(config, config.entry("OSG_CE"), renewer.states(), now) is None
    assert not list((tmp_path / "creds").glob(".*"))  # no scratch left behind
    # The last renewal survives a restart.
    assert await runtime.state.get_json("credential.last_renewal.osg") == state.last_renewal


async def test_refresh_that_fails_retries_and_limits_entries(tmp_path: Path) -> None:
    old = scitoken(time.time() + 600)
    installed = write_private(tmp_path / "creds" / "osg.token", old)
    attempts = tmp_path / "attempts"
    command = f"echo attempt >> {attempts}; echo vault says no >&2; exit 3"
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, command), SCITOKEN_ENTRY)
    renewer = Renewer(runtime, check_interval=0.2, retry_initial=0.1, retry_max=0.3)
    with capture_logs() as logs:
        async with _running(renewer):
            await _until(lambda: _renewals(runtime, "osg", "failure") >= 3)
            state = renewer.states()["osg"]
    assert len(attempts.read_text().splitlines()) >= 3
    assert installed.read_text() == old  # the old token stays in place
    assert state.ok
    assert state.expires == jwt_expiry(old.encode())
    assert "status 3" in str(state.last_error)
    assert "vault says no" in str(state.last_error)
    assert runtime.status.credentials["osg"].last_error == state.last_error
    failed = [e for e in logs if e["event"] == "credential.renew_failed"]
    assert failed
    assert failed[0]["result"] == "failure"
    config = runtime.config()
    now = time.time()
    assert (
        credential_blocks_new_glideins(state, config.credential("osg"), 48 * HOUR, now)
        == "credential_expiring"
    )
    assert (
        entry_credential_block(config, config.entry("OSG_CE"), renewer.states(), now)
        == "credential_expiring"
    )


async def test_refresh_that_hangs_is_killed_at_the_timeout(tmp_path: Path) -> None:
    old = scitoken(time.time() + 600)
    installed = write_private(tmp_path / "creds" / "osg.token", old)
    pids = tmp_path / "pids"
    # The command starts a grandchild: the whole process group must die.
    command = f"sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"
    runtime = _runtime(
        tmp_path, _scitoken_cred(tmp_path, command, "    refresh_timeout: 1s\n"), SCITOKEN_ENTRY
    )
    renewer = Renewer(runtime, check_interval=0.2, retry_initial=60)
    started = time.monotonic()
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "timeout") == 1)
    assert time.monotonic() - started < 30
    assert installed.read_text() == old
    assert "killed after 1s" in str(renewer.states()["osg"].last_error)
    for pid in map(int, pids.read_text().split()):
        await _until(lambda pid=pid: not _alive(pid), 10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] not in "ZX"
    except FileNotFoundError:
        return False


async def test_refresh_that_writes_a_broken_token_keeps_the_old_one(tmp_path: Path) -> None:
    old = scitoken(time.time() + 600)
    installed = write_private(tmp_path / "creds" / "osg.token", old)
    command = 'echo "<html>login page</html>" > "$BEARER_TOKEN_FILE"'
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, command))
    renewer = Renewer(runtime, check_interval=0.2, retry_initial=60)
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "invalid") == 1)
    assert installed.read_text() == old
    assert "unusable" in str(renewer.states()["osg"].last_error)
    assert renewer.states()["osg"].expires == jwt_expiry(old.encode())


async def test_expired_token_from_refresh_is_refused(tmp_path: Path) -> None:
    old = scitoken(time.time() + 600)
    installed = write_private(tmp_path / "creds" / "osg.token", old)
    write_private(tmp_path / "stale.token", scitoken(time.time() - 10))
    command = f"cat {tmp_path / 'stale.token'}"  # credential on stdout
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, command))
    renewer = Renewer(runtime, check_interval=0.2, retry_initial=60)
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "invalid") == 1)
    assert installed.read_text() == old
    assert "already expired" in str(renewer.states()["osg"].last_error)


async def test_stdout_credential_and_missing_file_created(tmp_path: Path) -> None:
    fresh = scitoken(time.time() + 3 * HOUR)
    write_private(tmp_path / "fresh.token", fresh)
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, f"cat {tmp_path / 'fresh.token'}"))
    renewer = Renewer(runtime, check_interval=0.2)
    async with _running(renewer):
        assert not renewer.states()["osg"].ok  # no file yet
        await _until(lambda: renewer.states()["osg"].ok)
    installed = tmp_path / "creds" / "osg.token"
    assert installed.read_text() == fresh
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600


async def test_stderr_secrets_are_not_logged(tmp_path: Path) -> None:
    write_private(tmp_path / "creds" / "osg.token", scitoken(time.time() + 600))
    secret_jwt = scitoken(time.time() + HOUR, sub="leaked-subject")
    opaque = "hvs.CAESIJ" + "x7Q2" * 20
    write_private(
        tmp_path / "noise.sh",
        f"""\
echo "token: {secret_jwt}" >&2
echo "client_secret=hunter2hunter2 and vault {opaque}" >&2
head -c 200000 /dev/zero | tr '\\0' 'A' >&2
exit 1
""",
    )
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, f"sh {tmp_path / 'noise.sh'}"))
    renewer = Renewer(runtime, check_interval=0.2, retry_initial=60)
    with capture_logs() as logs:
        async with _running(renewer):
            await _until(lambda: _renewals(runtime, "osg", "failure") == 1)
    logged = repr(logs) + str(renewer.states()["osg"].last_error)
    for secret in (secret_jwt, secret_jwt.split(".")[1], "hunter2hunter2", opaque):
        assert secret not in logged
    stderr = [e["stderr"] for e in logs if e["event"] == "credential.refresh_stderr"]
    assert len(stderr) == 1
    assert len(stderr[0]) < STDERR_LOG_LIMIT + 100
    assert "more characters not logged" in stderr[0]
    assert "[redacted JWT]" in stderr[0]


def test_redaction_keeps_what_helps_debugging() -> None:
    text = (
        "htgettoken: error reading /var/lib/aglidein/creds/osg.token: permission denied\n"
        "Authorization: Bearer abc.def.ghijklmnop\n"
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
    )
    redacted = redact_secrets(text)
    assert "/var/lib/aglidein/creds/osg.token: permission denied" in redacted
    assert "abc.def.ghijklmnop" not in redacted
    assert "MIIEowIBAAKCAQEA" not in redacted
    assert redact_secrets("x" * 5000, limit=100).startswith("x" * 100 + "…")


async def test_oauth2_client_credentials(tmp_path: Path) -> None:
    fresh = scitoken(time.time() + 3 * HOUR)
    write_private(tmp_path / "client.secret", "s3cret\n")
    seen: list[httpx.Request] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": fresh, "expires_in": 10800})

    credential = f"""\
  - name: osg
    type: scitoken
    path: {tmp_path / "creds" / "osg.token"}
    oauth2:
      token_url: https://issuer.example.org/token
      client_id: factory
      client_secret_file: {tmp_path / "client.secret"}
      scope: compute.create
      audience: https://ce1.example.org
"""
    runtime = _runtime(tmp_path, credential)
    transport = httpx.MockTransport(token_endpoint)
    renewer = Renewer(runtime, check_interval=0.2, http_transport=transport)
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "success") == 1)
    assert (tmp_path / "creds" / "osg.token").read_text().strip() == fresh
    form = dict(httpx.QueryParams(seen[0].content.decode()))
    assert form == {
        "grant_type": "client_credentials",
        "scope": "compute.create",
        "audience": "https://ce1.example.org",
    }
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert renewer.states()["osg"].refreshable


async def test_oauth2_error_is_a_failure(tmp_path: Path) -> None:
    write_private(tmp_path / "client.secret", "s3cret\n")
    transport = httpx.MockTransport(
        lambda request: httpx.Response(401, json={"error": "invalid_client"})
    )
    credential = f"""\
  - name: osg
    type: scitoken
    path: {tmp_path / "creds" / "osg.token"}
    oauth2: {{token_url: "https://i.example.org/t", client_id: f,
             client_secret_file: {tmp_path / "client.secret"}}}
"""
    runtime = _runtime(tmp_path, credential)
    renewer = Renewer(runtime, check_interval=0.2, retry_initial=60, http_transport=transport)
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "failure") == 1)
    assert "HTTP 401: invalid_client" in str(renewer.states()["osg"].last_error)


async def test_unrefreshable_proxy_and_ssh_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    write_private(tmp_path / "creds" / "x509up", proxy_file(time.time() + 10 * HOUR))
    credentials = """\
  - {name: proxy, type: x509, path: $CREDENTIALS_DIRECTORY/x509up}
  - {name: ssh, type: ssh, path: $CREDENTIALS_DIRECTORY/id_ssh}
"""
    runtime = _runtime(tmp_path, credentials)
    renewer = Renewer(runtime, check_interval=0.2)
    async with _running(renewer):
        states = renewer.states()
    proxy, ssh = states["proxy"], states["ssh"]
    assert proxy.ok
    assert not proxy.refreshable
    assert proxy.expires == pytest.approx(time.time() + 10 * HOUR, abs=120)
    config = runtime.config()
    now = time.time()
    # 10 h left, no way to renew: a 48 h glidein would outlive it; a 2 h one would not.
    check = credential_blocks_new_glideins
    assert check(proxy, config.credential("proxy"), 48 * HOUR, now) == "credential_expiring"
    assert check(proxy, config.credential("proxy"), 2 * HOUR, now) is None
    assert not ssh.ok
    assert "no such file" in str(ssh.last_error)
    assert check(ssh, config.credential("ssh"), 2 * HOUR, now) == "no_credential"
    assert _renewals(runtime, "proxy", "success") == 0


async def test_reload_drops_removed_credentials(tmp_path: Path) -> None:
    write_private(tmp_path / "creds" / "osg.token", scitoken(time.time() + 5 * HOUR))
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, "exit 1"))
    renewer = Renewer(runtime, check_interval=0.2)
    async with _running(renewer):
        assert set(renewer.states()) == {"osg"}
        (tmp_path / "aglidein.yaml").write_text(config_text(tmp_path))
        assert (await runtime.config.reload(runtime.metrics)).ok
        await _until(lambda: "osg" not in runtime.status.credentials)
        assert renewer.states() == {}


async def test_stop_kills_a_refresh_in_flight(tmp_path: Path) -> None:
    write_private(tmp_path / "creds" / "osg.token", scitoken(time.time() + 600))
    marker = tmp_path / "started"
    command = f"touch {marker}; exec sleep 300"
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, command))
    renewer = Renewer(runtime, check_interval=0.2)
    started = time.monotonic()
    async with _running(renewer):
        await _until(marker.exists)
        assert list((tmp_path / "creds").glob(".osg.token.refresh-*"))
    assert time.monotonic() - started < 30
    assert not list((tmp_path / "creds").glob(".osg.token.refresh-*"))  # scratch removed
    assert renewer.states()["osg"].expires is not None  # old token still there


def test_daemon_runs_a_renewer(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, "")
    workers = default_services(runtime).workers
    assert any(isinstance(w, Renewer) for w in workers)
    assert os.path.exists(tmp_path / "POOL")


async def test_short_lived_renewal_is_installed_but_backs_off(tmp_path: Path) -> None:
    write_private(tmp_path / "creds" / "osg.token", scitoken(time.time() + 600))
    short = scitoken(time.time() + 1800)  # below min_lifetime 1h
    write_private(tmp_path / "short.token", short)
    attempts = tmp_path / "attempts"
    command = f"echo x >> {attempts}; cat {tmp_path / 'short.token'}"
    runtime = _runtime(tmp_path, _scitoken_cred(tmp_path, command))
    renewer = Renewer(runtime, check_interval=0.1, retry_initial=60)
    async with _running(renewer):
        await _until(lambda: _renewals(runtime, "osg", "success") == 1)
        await anyio.sleep(1)  # ten check intervals
        state = renewer.states()["osg"]
    assert (tmp_path / "creds" / "osg.token").read_text() == short
    assert len(attempts.read_text().splitlines()) == 1
    assert "less than min_lifetime" in str(state.last_error)
    config = runtime.config()
    assert (
        credential_blocks_new_glideins(state, config.credential("osg"), 2 * HOUR, time.time())
        == "credential_expiring"
    )
