"""Getting a new credential: a `refresh_command` run under a deadline, or OAuth2 client
credentials over httpx. The renewer validates and installs what these return.

A refresh command gets the file to write in `$AGLIDEIN_CREDENTIAL_OUT` (also as
`$BEARER_TOKEN_FILE` for tokens and `$X509_USER_PROXY` for proxies, which htgettoken and
voms-proxy-init honour); when it leaves that file empty, its stdout is the credential.
`$VARS` in its arguments expand from that environment. Its stderr goes to the log,
redacted and capped; stdout is never logged.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import httpx
import structlog

from aglidein.config import CredentialConfig, OAuth2Config, expand_path
from aglidein.errors import CredentialError
from aglidein.logkeys import read_private_file

__all__ = [
    "STDERR_LOG_LIMIT",
    "RefreshFailed",
    "expand_vars",
    "fetch_oauth2_token",
    "redact_secrets",
    "run_refresh_command",
]

log = structlog.get_logger()

STDOUT_LIMIT = 1024 * 1024  # a credential is small; more is not a credential
STDERR_KEEP = 64 * 1024  # read and redacted; the rest is drained and dropped
STDERR_LOG_LIMIT = 2048  # at most this much of a command's stderr reaches the log


class RefreshFailed(CredentialError):
    """A refresh attempt failed; `result` is the metric label (failure, timeout, invalid)."""

    def __init__(self, result: str, message: str) -> None:
        self.result = result
        super().__init__(message)


# --- redaction -----------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?(-----END \1-----|\Z)", re.S)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}(\.[A-Za-z0-9_-]*){0,2}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_KEYED = re.compile(
    r"(?i)(?<![\w./-])(authorization|password|passwd|secret|client_secret|access_token|"
    r"refresh_token|id_token|token|api[_-]?key)(\"?\s*[:=]\s*\"?|\s+)"
    r"(?!\[redacted|bearer\b|basic\b)([^\s\"',;&]{4,})"
)
_OPAQUE = re.compile(r"[A-Za-z0-9+/=_-]{32,}")


def _opaque(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith("/") or not re.search(r"\d", text) or not re.search(r"[A-Za-z]", text):
        return text  # a path or a rule line, not a secret
    return "[redacted]"


def redact_secrets(text: str, limit: int = STDERR_LOG_LIMIT) -> str:
    """`text` with token-looking strings replaced, cut to `limit` characters."""
    text = _PEM.sub("[redacted PEM block]", text)
    text = _JWT.sub("[redacted JWT]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _OPAQUE.sub(_opaque, text)
    if len(text) > limit:
        text = f"{text[:limit]}… [{len(text) - limit} more characters not logged]"
    return text


# --- refresh commands ----------------------------------------------------------------------

_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` from `env`; unknown names stay as written (like the shell's)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _VAR.sub(value, text)


@dataclass(frozen=True, slots=True)
class _Output:
    returncode: int
    stdout: bytes
    stderr: bytes


async def _drain(stream: anyio.abc.ByteReceiveStream | None, keep: int, out: bytearray) -> None:
    """Read `stream` to its end, keeping the first `keep` bytes (the rest is dropped)."""
    if stream is None:
        return
    async for chunk in stream:
        if len(out) < keep:
            out.extend(chunk[: keep - len(out)])


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _run(args: list[str], env: Mapping[str, str], deadline_s: float) -> _Output | None:
    """Run `args` in its own session; None if it outlived `deadline_s` (then it is killed)."""
    stdout, stderr = bytearray(), bytearray()
    try:
        process = await anyio.open_process(
            args, stdin=subprocess.DEVNULL, env=dict(env), start_new_session=True
        )
    except OSError as exc:
        raise RefreshFailed("failure", f"cannot start {args[0]}: {exc.strerror}") from None
    try:
        with anyio.move_on_after(deadline_s):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_drain, process.stdout, STDOUT_LIMIT, stdout)
                tg.start_soon(_drain, process.stderr, STDERR_KEEP, stderr)
            returncode = await process.wait()
            return _Output(returncode, bytes(stdout), bytes(stderr))
        return None
    finally:
        if process.returncode is None:
            _kill_group(process.pid)  # the command and everything it started
        with anyio.CancelScope(shield=True):
            await process.aclose()


async def run_refresh_command(credential: CredentialConfig, work_dir: Path) -> bytes:
    """Run the credential's refresh command; the new credential's bytes or RefreshFailed."""
    assert credential.refresh_command is not None
    bound = log.bind(credential=credential.name)
    out_file = work_dir / "credential"
    env = dict(os.environ)
    env.update(
        AGLIDEIN_CREDENTIAL_NAME=credential.name,
        AGLIDEIN_CREDENTIAL_PATH=str(expand_path(credential.path)),
        AGLIDEIN_CREDENTIAL_OUT=str(out_file),
    )
    if credential.type == "scitoken":
        env["BEARER_TOKEN_FILE"] = str(out_file)
    elif credential.type == "x509":
        env["X509_USER_PROXY"] = str(out_file)
    args = [expand_vars(arg, env) for arg in credential.refresh_command]
    output = await _run(args, env, credential.refresh_timeout)
    if output is None:
        raise RefreshFailed(
            "timeout", f"refresh command killed after {credential.refresh_timeout:g}s"
        )
    stderr = redact_secrets(output.stderr.decode("utf-8", "replace"))
    if stderr.strip():
        bound.info("credential.refresh_stderr", stderr=stderr)
    if output.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or [""]
        raise RefreshFailed(
            "failure", f"refresh command exited with status {output.returncode}: {tail[0][:200]}"
        )
    data = await anyio.to_thread.run_sync(_read_out_file, out_file)
    return data or output.stdout


def _read_out_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def make_work_dir(credential: CredentialConfig) -> Path:
    """A private (0700) scratch directory next to the installed file."""
    target = expand_path(credential.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.refresh-", dir=target.parent))


def remove_work_dir(path: Path) -> None:
    """Delete a scratch directory and whatever a command left in it."""
    shutil.rmtree(path, ignore_errors=True)


# --- OAuth2 client credentials -------------------------------------------------------------


async def fetch_oauth2_token(
    oauth2: OAuth2Config, deadline_s: float, transport: httpx.AsyncBaseTransport | None = None
) -> bytes:
    """An access token from the client-credentials grant, or RefreshFailed."""
    try:
        secret_bytes = await anyio.to_thread.run_sync(
            read_private_file, expand_path(oauth2.client_secret_file), "oauth2 client secret"
        )
    except CredentialError as exc:
        raise RefreshFailed("failure", str(exc)) from None
    form = {"grant_type": "client_credentials"}
    if oauth2.scope:
        form["scope"] = oauth2.scope
    if oauth2.audience:
        form["audience"] = oauth2.audience
    secret = secret_bytes.decode("utf-8", "replace").strip()
    try:
        async with httpx.AsyncClient(transport=transport, timeout=deadline_s) as client:
            response = await client.post(
                oauth2.token_url, data=form, auth=(oauth2.client_id, secret)
            )
    except httpx.TimeoutException:
        raise RefreshFailed("timeout", f"token endpoint {oauth2.token_url} timed out") from None
    except httpx.HTTPError as exc:
        raise RefreshFailed("failure", f"token endpoint {oauth2.token_url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200:
        reason = str(body.get("error_description") or body.get("error") or "")[:200]
        raise RefreshFailed(
            "failure",
            f"token endpoint answered HTTP {response.status_code}: {redact_secrets(reason)}",
        )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise RefreshFailed("invalid", "token endpoint answered without an access_token")
    return token.encode("utf-8") + b"\n"
