"""`POST /api/v1/logs` (DESIGN §8): authenticated, size-capped, rate-limited NDJSON ingest.

The response says what happened to every line; a 2xx is sent only after the store
committed the accepted records. 401/403 for tokens, 413 for size, 415 for media type or
encoding, 429 and 503 with `Retry-After` — never a silent drop.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from aglidein.config import LogsConfig
from aglidein.errors import CredentialError, StoreError, StoreFull
from aglidein.logkeys import KEY_FILE, PREV_KEY_FILE, LogClaims, LogKeyring, LogTokenError
from aglidein.services.http import RawResponse
from aglidein.services.metrics import Metrics
from aglidein.store.api import LogStore

__all__ = [
    "MAX_BODY",
    "MAX_DECOMPRESSED",
    "MAX_ERRORS_LISTED",
    "Ingest",
    "RateLimiter",
    "TokenVerifier",
]

log = structlog.get_logger()

MAX_BODY = 1024 * 1024
MAX_DECOMPRESSED = 8 * 1024 * 1024
STORE_RETRY_AFTER_S = 5
MAX_ERRORS_LISTED = 100  # a 400 lists the first refused lines and counts the rest


class _TooLarge(Exception):
    pass


@dataclass
class RateLimiter:
    """A token bucket per glidein, refilled at `records_per_s` up to `burst`."""

    settings: Callable[[], LogsConfig]
    now: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def burst(self) -> int:
        """The largest batch a glidein may send at once."""
        return self.settings().rate_limit.burst

    def take(self, glidein: str, records: int) -> float:
        """Take `records` tokens; 0.0 if allowed, else seconds to wait before retrying.

        A batch larger than the burst is never admitted (the caller answers 413 first):
        admitting it would let one request cost any amount of parsing."""
        limit = self.settings().rate_limit
        rate, burst = float(limit.records_per_s), float(limit.burst)
        now = self.now()
        tokens, then = self._buckets.get(glidein, (burst, now))
        tokens = min(burst, tokens + (now - then) * rate)
        need = float(records)
        if need > burst:
            raise ValueError(f"a batch of {records} records is larger than the burst {burst:g}")
        if tokens < need:
            self._buckets[glidein] = (tokens, now)
            return max(1.0, math.ceil((need - tokens) / rate))
        self._buckets[glidein] = (tokens - records, now)
        if len(self._buckets) > 200_000:
            self._forget_full(now, rate, burst)
        return 0.0

    def _forget_full(self, now: float, rate: float, burst: float) -> None:
        for name, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * rate >= burst:
                del self._buckets[name]


class TokenVerifier:
    """Verifies log tokens with the keyring in `state_dir`, re-read when the key files
    change (rotation), with a small cache of tokens already verified."""

    def __init__(self, state_dir: Path, now: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self._now = now
        self._keyring: LogKeyring | None = None
        self._stamp: tuple[float, float] = (0.0, 0.0)
        self._checked = 0.0
        self._cache: dict[str, LogClaims] = {}

    def load(self) -> None:
        """Load (creating on first start) the log-signing key."""
        self._keyring = LogKeyring.load(self.state_dir)
        self._stamp = self._file_stamp()
        self._cache.clear()

    def _file_stamp(self) -> tuple[float, float]:
        stamps = []
        for name in (KEY_FILE, PREV_KEY_FILE):
            try:
                stamps.append((self.state_dir / name).stat().st_mtime)
            except OSError:
                stamps.append(0.0)
        return stamps[0], stamps[1]

    def verify(self, token: str) -> LogClaims:
        """The claims of a valid token; LogTokenError otherwise."""
        now = self._now()
        if now - self._checked > 1.0:
            self._checked = now
            if self._file_stamp() != self._stamp:
                try:
                    self.load()
                except CredentialError as exc:
                    log.error("logs.keyring_reload_failed", error=str(exc))
        if self._keyring is None:
            raise LogTokenError("unknown_key", "the log key is not loaded")
        claims = self._cache.get(token)
        if claims is not None:
            if claims.expires <= now:
                del self._cache[token]
                raise LogTokenError("expired", "log token has expired")
            return claims
        claims = self._keyring.verify(token, now=now)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[token] = claims
        return claims


class Ingest:
    """The handler of `POST /api/v1/logs`."""

    def __init__(
        self,
        store: Callable[[], LogStore],
        verifier: TokenVerifier,
        limiter: RateLimiter,
        settings: Callable[[], LogsConfig],
        metrics: Metrics,
    ) -> None:
        self._store = store
        self.verifier = verifier
        self.limiter = limiter
        self._settings = settings
        self._metrics = metrics

    def _reject(self, reason: str, status: int, error: str, retry: int = 0) -> RawResponse:
        self._metrics.log_rejected.labels(reason=reason).inc()
        return _json(status, {"error": error}, retry)

    async def __call__(self, request: Request) -> Response:
        """Authenticate, read, parse, rate-limit and store one batch (routed request)."""
        answer = await self.handle(request.headers.get, _request_body(request))
        return Response(
            answer.body,
            status_code=answer.status,
            headers={k.decode(): v.decode() for k, v in answer.headers},
        )

    async def raw(self, scope: Any, receive: Any) -> RawResponse:
        """The same as a raw ASGI handler, served ahead of the router (DirectRoutes)."""
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key in _WANTED and key not in headers:
                headers[key] = value.decode("latin-1")
        return await self.handle(headers.get, _receive_body(receive))

    async def handle(
        self, header: Callable[[str, str], str], body_chunks: AsyncIterator[bytes]
    ) -> RawResponse:
        """Authenticate, read, parse, rate-limit and store one batch; `header(name,
        default)` looks up a request header, `body_chunks` yields the body."""
        started = time.perf_counter()
        auth = header("authorization", "")
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            return self._reject(
                "auth_missing", 401, "a log token is required (Authorization: Bearer)"
            )
        try:
            claims = self.verifier.verify(auth[7:].strip())
        except LogTokenError as exc:
            status = 403 if exc.reason == "audience" else 401
            return self._reject(f"auth_{exc.reason}", status, str(exc))
        media = header("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-ndjson":
            return self._reject("media_type", 415, "Content-Type must be application/x-ndjson")
        encoding = header("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return self._reject("encoding", 415, "Content-Encoding must be identity or gzip")
        try:
            body = await _read_body(header("content-length", ""), body_chunks)
            if encoding == "gzip":
                body = _gunzip(body)
        except _TooLarge as exc:
            return self._reject("too_large", 413, str(exc))
        except ClientDisconnect:
            return self._reject("disconnected", 400, "client went away")
        except zlib.error:
            return self._reject("bad_gzip", 400, "body is not valid gzip")
        self._metrics.log_bytes.inc(len(body))
        lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
        if lines > self.limiter.burst():
            return self._reject(
                "too_large",
                413,
                f"batch of {lines} lines is over the rate-limit burst "
                f"({self.limiter.burst()}); split the batch",
            )
        retry = self.limiter.take(claims.glidein, lines)
        if retry:
            return self._reject(
                "rate_limited", 429, "rate limit exceeded for this glidein", int(retry)
            )
        settings = self._settings()
        try:
            result, errors = await self._store().ingest_lines(
                claims.glidein,
                claims.entry,
                body,
                max_fields=settings.record_max_fields,
                max_bytes=int(settings.record_max_bytes),
            )
        except StoreError as exc:
            reason = "store_full" if isinstance(exc, StoreFull) else "store_failed"
            self._metrics.log_rejected.labels(reason=reason).inc(lines)
            return _json(503, {"error": str(exc)}, STORE_RETRY_AFTER_S)
        metrics = self._metrics
        metrics.log_records.inc(result.accepted)
        if result.duplicates:
            metrics.log_duplicates.inc(result.duplicates)
        if errors:
            metrics.log_rejected.labels(reason="invalid").inc(len(errors))
        metrics.ingest_duration.observe(time.perf_counter() - started)
        body_out: dict[str, object] = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
        }
        if errors:
            shown = errors[:MAX_ERRORS_LISTED]
            body_out["errors"] = [{"line": e.line, "error": e.error} for e in shown]
            if len(errors) > len(shown):
                body_out["errors_omitted"] = len(errors) - len(shown)
            return _json(400, body_out)
        return _json(200, body_out)


_WANTED = frozenset({"authorization", "content-type", "content-encoding", "content-length"})
_JSON = (b"content-type", b"application/json")


def _json(status: int, body: object, retry: int = 0) -> RawResponse:
    headers = ((b"retry-after", str(retry).encode()), _JSON) if retry else (_JSON,)
    return RawResponse(status, orjson.dumps(body), headers)


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk


async def _receive_body(receive: Any) -> AsyncIterator[bytes]:
    """The body of an ASGI request, piece by piece; ClientDisconnect if it goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _read_body(length: str, chunks: AsyncIterator[bytes]) -> bytes:
    if length.isdigit() and int(length) > MAX_BODY:
        raise _TooLarge(f"body is over {MAX_BODY} bytes; split the batch")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge(f"body is over {MAX_BODY} bytes; split the batch")
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _gunzip(data: bytes) -> bytes:
    """Decompress gzip, refusing more than MAX_DECOMPRESSED bytes (zip bombs)."""
    parts: list[bytes] = []
    size = 0
    while data:  # a gzip body may hold several members
        inflater = zlib.decompressobj(wbits=31)
        out = inflater.decompress(data, MAX_DECOMPRESSED + 1 - size)
        size += len(out)
        if size > MAX_DECOMPRESSED or inflater.unconsumed_tail:
            raise _TooLarge(f"body decompresses to over {MAX_DECOMPRESSED} bytes; split the batch")
        if not inflater.eof:
            raise zlib.error("truncated gzip stream")
        parts.append(out)
        data = inflater.unused_data
    return b"".join(parts)
