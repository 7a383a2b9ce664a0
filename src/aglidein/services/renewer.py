"""The renewer: keeps every configured credential fresh and says how fresh it is.

Each `check_interval` it reads every credential's lifetime (X.509 `notAfter`, JWT `exp`,
SSH key presence and permissions). A refreshable credential whose life left falls under
`min_lifetime` plus a margin is renewed: its `refresh_command` runs (killed at
`refresh_timeout`) or the OAuth2 client-credentials flow fetches a token; the new
credential is validated and installed at `path` atomically (0600), so HTCondor-G forwards
it to running glideins. A failure keeps the old file and retries with exponential
backoff. `states()` is what the decision sees (`CycleInputs.credentials`); the status
API, `aglidein_credential_expiry_timestamp_seconds` and
`aglidein_credential_renewals_total{result}` show the same.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import httpx
import structlog

from aglidein.config import Config, CredentialConfig, expand_path
from aglidein.core.model import CredentialState
from aglidein.credentials import CredentialReading, check_credential_bytes, read_credential
from aglidein.errors import AglideinError, CredentialError
from aglidein.logkeys import LogKeyring, atomic_write
from aglidein.ownership import JobOwner, give, resolve_job_owner
from aglidein.services.refresh import (
    RefreshFailed,
    fetch_oauth2_token,
    make_work_dir,
    remove_work_dir,
    run_refresh_command,
)
from aglidein.services.runtime import CredentialStatus, Runtime

__all__ = ["Renewer", "renew_margin"]

log = structlog.get_logger()

_KV_PREFIX = "credential.last_renewal."


def renew_margin(credential: CredentialConfig, check_interval: float) -> float:
    """How long before falling under `min_lifetime` a renewal starts.

    Enough for one attempt to finish, and a quarter of `min_lifetime` for retries.
    """
    return max(credential.refresh_timeout + check_interval, credential.min_lifetime / 4)


@dataclass
class _Track:
    """What the renewer knows and plans for one credential."""

    name: str
    type: str
    expires: float | None = None
    ok: bool = False
    last_renewal: float | None = None
    last_error: str | None = None  # the last renewal's failure, else the file's problem
    failures: int = 0
    next_attempt: float = 0.0  # no renewal before this (backoff, or just renewed)
    renewing: bool = False


class Renewer:
    """Reads, renews and reports the configured credentials."""

    name = "renewer"

    def __init__(
        self,
        runtime: Runtime,
        *,
        check_interval: float = 60.0,
        retry_initial: float = 30.0,
        retry_max: float = 900.0,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.runtime = runtime
        self.check_interval = check_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._transport = http_transport
        self._tracks: dict[str, _Track] = {}
        self._stop = anyio.Event()
        self._wake = anyio.Event()
        self._passes = 0

    # --- what others read ------------------------------------------------------------------

    def states(self) -> dict[str, CredentialState]:
        """Every configured credential's state, for `CycleInputs.credentials`."""
        config = self.runtime.config()
        out: dict[str, CredentialState] = {}
        for credential in config.credentials:
            track = self._tracks.get(credential.name)
            if track is None:
                continue
            out[credential.name] = CredentialState(
                name=credential.name,
                type=credential.type,
                expires=track.expires,
                refreshable=credential.refreshable,
                ok=track.ok,
                last_renewal=track.last_renewal,
                last_error=track.last_error,
            )
        return out

    @property
    def passes(self) -> int:
        """How many check passes have completed (tests wait on it)."""
        return self._passes

    def wake(self) -> None:
        """Check now instead of at the next interval (after a reload)."""
        self._wake.set()

    # --- the service -----------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Check, renew and publish until stopped; ready after the first check."""
        await self._ensure_log_key()
        await self._load_last_renewals()

        async def on_reload(old: Config, new: Config) -> None:
            self.wake()

        self.runtime.config.on_reload(on_reload)
        await self._check_all()
        task_status.started()
        async with anyio.create_task_group() as tg:
            while not self._stop.is_set():
                self._wake = anyio.Event()  # before starting: a quick renewal still wakes us
                self._start_due_renewals(tg)
                with anyio.move_on_after(self._sleep_time()):
                    await self._wake.wait()
                if self._stop.is_set():
                    break
                await self._check_all()
            tg.cancel_scope.cancel()  # a refresh command in flight is killed; the file stays

    async def stop(self) -> None:
        """Stop checking; kill any refresh command in flight."""
        self._stop.set()
        self._wake.set()

    def _sleep_time(self) -> float:
        """Until the next check, or the next retry if that comes first."""
        now = self.runtime.clock.now()
        waits = [self.check_interval]
        for credential in self.runtime.config().credentials:
            track = self._tracks.get(credential.name)
            if track is not None and credential.refreshable and track.next_attempt > now:
                waits.append(track.next_attempt - now)
        return max(0.0, min(waits))

    async def _ensure_log_key(self) -> None:
        """Create `state_dir/log-signing.key` (0600) on first start (DESIGN §7)."""
        try:
            await anyio.to_thread.run_sync(LogKeyring.load, self.runtime.state_dir)
        except AglideinError as exc:
            log.error("credential.log_key_unusable", error=str(exc))

    async def _load_last_renewals(self) -> None:
        for credential in self.runtime.config().credentials:
            value = await self.runtime.state.get_json(_KV_PREFIX + credential.name)
            if isinstance(value, int | float):
                self._track(credential).last_renewal = float(value)

    # --- checking --------------------------------------------------------------------------

    def _track(self, credential: CredentialConfig) -> _Track:
        track = self._tracks.get(credential.name)
        if track is None or track.type != credential.type:
            track = self._tracks[credential.name] = _Track(credential.name, credential.type)
        return track

    def _forget_removed(self, config: Config) -> None:
        names = {c.name for c in config.credentials}
        for name in set(self._tracks) - names:
            del self._tracks[name]
            self.runtime.status.credentials.pop(name, None)
            with contextlib.suppress(KeyError):  # never published
                self.runtime.metrics.credential_expiry.remove(name)

    async def _check_all(self) -> None:
        """Read every credential's file and publish what it says."""
        config = self.runtime.config()
        self._forget_removed(config)
        for credential in config.credentials:
            track = self._track(credential)
            if track.renewing:
                continue  # the renewal publishes its own result
            try:
                reading = await anyio.to_thread.run_sync(read_credential, credential)
            except CredentialError as exc:
                if track.failures == 0:  # else the renewal's error says more
                    track.last_error = str(exc)
                track.ok, track.expires = False, None
            else:
                if track.failures == 0:
                    track.last_error = None
                track.ok, track.expires = True, reading.expires
            self._publish(credential, track)
        self._passes += 1

    def _due(self, credential: CredentialConfig, track: _Track, now: float) -> bool:
        if not credential.refreshable or track.renewing or now < track.next_attempt:
            return False
        if not track.ok:
            return True
        if track.expires is None:
            return False
        left = track.expires - now
        return left < credential.min_lifetime + renew_margin(credential, self.check_interval)

    def _start_due_renewals(self, tg: anyio.abc.TaskGroup) -> None:
        now = self.runtime.clock.now()
        for credential in self.runtime.config().credentials:
            track = self._track(credential)
            if self._due(credential, track, now):
                track.renewing = True
                tg.start_soon(self._renew, credential, track)

    # --- renewing --------------------------------------------------------------------------

    async def _renew(self, credential: CredentialConfig, track: _Track) -> None:
        bound = log.bind(credential=credential.name)
        bound.info("credential.renewing", expires=track.expires)
        try:
            reading = await self._fetch_and_install(credential)
        except RefreshFailed as exc:
            self._failed(credential, track, exc.result, str(exc))
        except CredentialError as exc:
            self._failed(credential, track, "invalid", str(exc))
        else:
            now = self.runtime.clock.now()
            track.ok, track.expires, track.last_renewal = True, reading.expires, now
            track.failures, track.last_error = 0, None
            track.next_attempt = now + self.check_interval
            left = None if reading.expires is None else reading.expires - now
            if left is not None and left < credential.min_lifetime:
                # Installed (better than before), but retrying at once would only hammer
                # the issuer: back off as after a failure.
                track.failures += 1
                track.next_attempt = now + self._retry_delay(track)
                track.last_error = (
                    f"renewed credential lives {left:.0f}s, less than min_lifetime "
                    f"{credential.min_lifetime:g}s"
                )
                bound.warning("credential.renewed_short", left_s=round(left))
            self.runtime.metrics.credential_renewals.labels(
                credential=credential.name, result="success"
            ).inc()
            bound.info("credential.renewed", expires=reading.expires)
            await self.runtime.state.put_json(_KV_PREFIX + credential.name, now)
        finally:
            track.renewing = False
            self._publish(credential, track)
            self._wake.set()  # schedule the next attempt (or the retry) promptly

    def _failed(self, credential: CredentialConfig, track: _Track, result: str, error: str) -> None:
        now = self.runtime.clock.now()
        track.failures += 1
        track.last_error = error
        delay = self._retry_delay(track)
        track.next_attempt = now + delay
        self.runtime.metrics.credential_renewals.labels(
            credential=credential.name, result=result
        ).inc()
        log.warning(
            "credential.renew_failed",
            credential=credential.name,
            result=result,
            error=error,
            failures=track.failures,
            retry_in_s=round(delay),
        )

    def _retry_delay(self, track: _Track) -> float:
        return float(min(self.retry_max, self.retry_initial * 2 ** (track.failures - 1)))

    async def _fetch_and_install(self, credential: CredentialConfig) -> CredentialReading:
        """Get a new credential, check it, install it; the old file stays on any failure."""
        if credential.oauth2 is not None:
            with anyio.move_on_after(credential.refresh_timeout):
                data = await fetch_oauth2_token(
                    credential.oauth2, credential.refresh_timeout, self._transport
                )
                return await self._install(credential, data)
            raise RefreshFailed(
                "timeout", f"token request took over {credential.refresh_timeout:g}s"
            )
        work_dir = await anyio.to_thread.run_sync(make_work_dir, credential)
        try:
            data = await run_refresh_command(credential, work_dir)
            return await self._install(credential, data)
        finally:
            with anyio.CancelScope(shield=True):  # also when stopping mid-refresh
                await anyio.to_thread.run_sync(remove_work_dir, work_dir)

    async def _install(self, credential: CredentialConfig, data: bytes) -> CredentialReading:
        if not data.strip():
            raise RefreshFailed("invalid", "the refresh produced no credential")
        try:
            reading = check_credential_bytes(credential, data)
        except CredentialError as exc:
            raise RefreshFailed("invalid", f"the new credential is unusable: {exc}") from None
        now = self.runtime.clock.now()
        if reading.expires is not None and reading.expires <= now:
            raise RefreshFailed("invalid", "the new credential has already expired")
        path = expand_path(credential.path)
        try:
            owner = resolve_job_owner(self.runtime.config())
            await anyio.to_thread.run_sync(_install_file, path, data, owner)
        except OSError as exc:
            raise RefreshFailed("failure", f"cannot install {path}: {exc.strerror}") from None
        return reading

    # --- publishing ------------------------------------------------------------------------

    def _publish(self, credential: CredentialConfig, track: _Track) -> None:
        self.runtime.status.credentials[credential.name] = CredentialStatus(
            name=credential.name,
            type=credential.type,
            expires=track.expires,
            last_renewal=track.last_renewal,
            last_error=track.last_error,
            warn_before=credential.min_lifetime,
        )
        gauge = self.runtime.metrics.credential_expiry
        if track.expires is not None:
            gauge.labels(credential=credential.name).set(track.expires)
        elif not track.ok:
            gauge.labels(credential=credential.name).set(0)


def _install_file(path: Path, data: bytes, owner: JobOwner | None) -> None:
    atomic_write(path, data, 0o600)
    give(path, owner)  # the gridmanager reads it as the job owner
