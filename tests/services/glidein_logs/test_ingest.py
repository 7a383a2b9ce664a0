"""aglidein.services.glidein_logs.ingest: token verification, the rate limiter, body checks and answers."""

from __future__ import annotations

import gzip
import os
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from aglidein.config import LogsConfig
from aglidein.core.records import LineError, ParsedBatch, parse_batch
from aglidein.errors import StoreFull
from aglidein.logkeys import KEY_FILE, LogKeyring, LogTokenError
from aglidein.services.glidein_logs.ingest import (
    MAX_BODY,
    MAX_DECOMPRESSED,
    MAX_ERRORS_LISTED,
    Ingest,
    RateLimiter,
    TokenVerifier,
)
from aglidein.services.metrics import Metrics
from aglidein.store.api import IngestResult
from tests.services.glidein_logs.helpers import ndjson

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settings(records_per_s: int = 2, burst: int = 10) -> LogsConfig:
    return LogsConfig.model_validate(
        {"rate_limit": {"records_per_s": records_per_s, "burst": burst}}
    )


# --- RateLimiter -------------------------------------------------------------------------


def test_rate_limiter_bucket_per_glidein_refills_at_the_rate() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(lambda: _settings(2, 10), now=clock)
    assert limiter.burst() == 10
    assert limiter.take("g1", 10) == 0.0
    assert limiter.take("g1", 1) == 1.0  # empty: retry after at least a second
    assert limiter.take("g2", 10) == 0.0  # another glidein has its own bucket
    clock.now += 2.0  # +4 tokens
    assert limiter.take("g1", 9) == 3.0  # needs 5 more at 2/s: ceil(2.5)
    assert limiter.take("g1", 4) == 0.0
    clock.now += 1000.0
    assert limiter.take("g1", 10) == 0.0  # refilled up to the burst, not beyond
    assert limiter.take("g1", 1) == 1.0


def test_rate_limiter_never_admits_a_batch_over_the_burst() -> None:
    limiter = RateLimiter(lambda: _settings(2, 10), now=Clock())
    with pytest.raises(ValueError, match="larger than the burst"):
        limiter.take("g1", 11)


# --- TokenVerifier -----------------------------------------------------------------------


def test_verifier_accepts_its_tokens_and_refuses_others(tmp_path: Path) -> None:
    clock = Clock()
    verifier = TokenVerifier(tmp_path, now=clock)
    with pytest.raises(LogTokenError) as missing:
        verifier.verify("anything")
    assert missing.value.reason == "unknown_key"
    verifier.load()
    token = LogKeyring.load(tmp_path).mint("g1", "CE_A", now=T0, lifetime=60)
    claims = verifier.verify(token)
    assert (claims.glidein, claims.entry, claims.expires) == ("g1", "CE_A", int(T0 + 60))
    assert verifier.verify(token) == claims  # from the cache
    with pytest.raises(LogTokenError) as garbage:
        verifier.verify("not-a-jwt")
    assert garbage.value.reason == "malformed"
    other = LogKeyring(b"k" * 32).mint("g1", "CE_A", now=T0, lifetime=60)
    with pytest.raises(LogTokenError) as foreign:
        verifier.verify(other)
    assert foreign.value.reason == "unknown_key"


def test_a_cached_token_still_expires(tmp_path: Path) -> None:
    clock = Clock()
    verifier = TokenVerifier(tmp_path, now=clock)
    verifier.load()
    token = LogKeyring.load(tmp_path).mint("g1", "E", now=T0, lifetime=60)
    verifier.verify(token)
    clock.now = T0 + 60
    for _ in range(2):  # from the cache, then from the keyring
        with pytest.raises(LogTokenError) as expired:
            verifier.verify(token)
        assert expired.value.reason == "expired"


def test_verifier_rereads_the_keys_after_a_rotation(tmp_path: Path) -> None:
    clock = Clock()
    verifier = TokenVerifier(tmp_path, now=clock)
    verifier.load()
    old = LogKeyring.load(tmp_path).mint("g1", "E", now=T0, lifetime=600)
    assert verifier.verify(old).glidein == "g1"  # looked at the key files just now
    new_ring = LogKeyring.rotate(tmp_path)
    # a rotation within the same mtime tick must still be noticed
    os.utime(tmp_path / KEY_FILE, (T0 + 5, T0 + 5))
    new = new_ring.mint("g2", "E", now=T0, lifetime=600)
    with pytest.raises(LogTokenError):
        verifier.verify(new)  # checked the files less than a second ago
    clock.now += 2
    assert verifier.verify(new).glidein == "g2"
    assert verifier.verify(old).glidein == "g1"  # the previous key still verifies


# --- Ingest.handle -----------------------------------------------------------------------


class FakeStore:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.batches: list[tuple[str, str, ParsedBatch]] = []

    async def ingest(self, glidein: str, entry: str, batch: ParsedBatch) -> IngestResult:
        if self.error is not None:
            raise self.error
        self.batches.append((glidein, entry, batch))
        return IngestResult(accepted=batch.line_count - len(batch.errors), duplicates=0)

    async def ingest_lines(
        self, glidein: str, entry: str, body: bytes, *, max_fields: int, max_bytes: int
    ) -> tuple[IngestResult, list[LineError]]:
        batch = parse_batch(body, max_fields=max_fields, max_bytes=max_bytes)
        return await self.ingest(glidein, entry, batch), batch.errors


class Harness:
    def __init__(self, tmp_path: Path, store: FakeStore, burst: int = 200) -> None:
        self.store = store
        self.metrics = Metrics()
        verifier = TokenVerifier(tmp_path)
        verifier.load()
        settings = _settings(1, burst)
        self.limiter = RateLimiter(lambda: settings, now=Clock())
        self.ingest = Ingest(
            lambda: store,  # type: ignore[arg-type,return-value]
            verifier,
            self.limiter,
            lambda: settings,
            self.metrics,
        )
        self.token = LogKeyring.load(tmp_path).mint("g1", "CE_A", now=T0, lifetime=1e10)

    async def post(
        self, body: bytes, **headers: str
    ) -> tuple[int, dict[str, object], dict[bytes, bytes]]:
        wanted = {
            "authorization": f"Bearer {self.token}",
            "content-type": "application/x-ndjson; charset=utf-8",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        answer = await self.ingest.handle(lambda name, default: wanted.get(name, default), chunks())
        return answer.status, orjson.loads(answer.body), dict(answer.headers)

    def rejected(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "aglidein_log_records_rejected_total", {"reason": reason}
        )
        return value or 0.0


async def test_a_good_batch_is_stored_for_the_token_glidein(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeStore())
    status, body, headers = await h.post(ndjson(range(1, 4)))
    assert (status, body) == (200, {"accepted": 3, "duplicates": 0})
    assert headers[b"content-type"] == b"application/json"
    ((glidein, entry, batch),) = h.store.batches
    assert (glidein, entry, batch.seqs) == ("g1", "CE_A", [1, 2, 3])
    assert h.metrics.registry.get_sample_value("aglidein_log_records_accepted_total") == 3.0


async def test_gzip_body_and_refused_lines(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeStore())
    status, body, _ = await h.post(
        gzip.compress(ndjson([1]) + b"\nnot json\n{}"), content_encoding="gzip"
    )
    assert status == 400
    assert body["accepted"] == 1
    errors = body["errors"]
    assert isinstance(errors, list)
    assert [e["line"] for e in errors] == [2, 3]
    assert h.rejected("invalid") == 2.0


async def test_refused_lines_are_listed_up_to_a_limit(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeStore(), burst=1000)
    status, body, _ = await h.post(b"\n".join([b"x"] * (MAX_ERRORS_LISTED + 7)))
    assert status == 400
    assert len(body["errors"]) == MAX_ERRORS_LISTED  # type: ignore[arg-type]
    assert body["errors_omitted"] == 7


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"authorization": ""}, 401, "auth_missing"),
        ({"authorization": "Basic abc"}, 401, "auth_missing"),
        ({"authorization": "Bearer   "}, 401, "auth_missing"),
        ({"authorization": "Bearer nonsense"}, 401, "auth_malformed"),
        ({"content_type": "application/json"}, 415, "media_type"),
        ({"content_encoding": "br"}, 415, "encoding"),
        ({"content_length": str(MAX_BODY + 1)}, 413, "too_large"),
        ({"content_encoding": "gzip"}, 400, "bad_gzip"),
    ],
)
async def test_bad_requests_are_refused_and_counted(
    tmp_path: Path, headers: dict[str, str], status: int, reason: str
) -> None:
    h = Harness(tmp_path, FakeStore())
    got, body, _ = await h.post(ndjson([1]), **headers)
    assert got == status
    assert isinstance(body["error"], str)
    assert body["error"]
    assert h.rejected(reason) == 1.0
    assert h.store.batches == []


async def test_a_token_for_another_audience_is_forbidden(tmp_path: Path) -> None:
    import jwt

    h = Harness(tmp_path, FakeStore())
    ring = LogKeyring.load(tmp_path)
    claims = {"sub": "g1", "aud": "elsewhere", "entry": "E", "iat": 0, "exp": 4_000_000_000}
    h.token = jwt.encode(claims, ring.current, algorithm="HS256", headers={"kid": ring.kid})
    status, _, _ = await h.post(ndjson([1]))
    assert status == 403
    assert h.rejected("auth_audience") == 1.0


async def test_size_limits(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeStore())
    status, body, _ = await h.post(b"x" * (MAX_BODY + 1))  # no Content-Length: counted
    assert status == 413
    assert "split the batch" in str(body["error"])
    bomb = gzip.compress(b"\n" * (MAX_DECOMPRESSED + 1))
    assert len(bomb) < MAX_BODY
    status, body, _ = await h.post(bomb, content_encoding="gzip")
    assert status == 413
    assert "decompresses" in str(body["error"])
    assert h.rejected("too_large") == 2.0


async def test_over_the_burst_is_413_then_the_bucket_gives_429(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeStore(), burst=5)
    status, body, _ = await h.post(ndjson(range(1, 7)))
    assert status == 413
    assert "burst (5)" in str(body["error"])
    assert (await h.post(ndjson(range(1, 6))))[0] == 200
    status, _, headers = await h.post(ndjson([6, 7]))
    assert status == 429
    assert headers[b"retry-after"] == b"2"
    assert h.rejected("rate_limited") == 1.0


async def test_a_full_store_answers_503_with_retry_after(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeStore(StoreFull("disk full")))
    status, body, headers = await h.post(ndjson(range(1, 4)))
    assert (status, body) == (503, {"error": "disk full"})
    assert headers[b"retry-after"] == b"5"
    assert h.rejected("store_full") == 3.0
