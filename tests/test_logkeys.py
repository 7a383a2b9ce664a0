"""The log-signing key file and per-glidein log tokens (DESIGN §7)."""

from __future__ import annotations

import hashlib
import stat
import time
from pathlib import Path

import jwt
import pytest

from aglidein.errors import CredentialError
from aglidein.logkeys import (
    KEY_FILE,
    LOG_AUDIENCE,
    PREV_KEY_FILE,
    LogKeyring,
    LogTokenError,
    read_private_file,
)
from tests.credential_helpers import write_private

NOW = 1_767_225_600.0  # 2026-01-01: a simulated clock far from the wall clock
DAY = 86400.0


def test_key_created_0600_on_first_load(tmp_path: Path) -> None:
    keyring = LogKeyring.load(tmp_path / "state")
    path = tmp_path / "state" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert keyring.kid == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert LogKeyring.load(tmp_path / "state").current == keyring.current  # not replaced


def test_load_without_create_needs_the_key(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="no such file"):
        LogKeyring.load(tmp_path, create=False)


def test_token_claims_and_header(tmp_path: Path) -> None:
    keyring = LogKeyring.load(tmp_path)
    token = keyring.mint("g-1", "CE1", now=NOW, lifetime=49 * 3600)
    assert jwt.get_unverified_header(token)["kid"] == keyring.kid
    claims = jwt.decode(
        token,
        keyring.current,
        algorithms=["HS256"],
        audience=LOG_AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "g-1"
    assert claims["entry"] == "CE1"
    assert claims["aud"] == "aglidein-logs"
    assert claims["exp"] == int(NOW) + 49 * 3600


def test_verify_uses_the_injected_clock(tmp_path: Path) -> None:
    keyring = LogKeyring.load(tmp_path)
    token = keyring.mint("g-1", "CE1", now=NOW, lifetime=3600)
    # The wall clock is long past this token's exp; the injected clock is not.
    assert keyring.verify(token, now=NOW + 10).glidein == "g-1"
    with pytest.raises(LogTokenError) as info:
        keyring.verify(token, now=NOW + 3600)
    assert info.value.reason == "expired"
    with pytest.raises(LogTokenError) as info:
        keyring.verify(token)  # wall clock
    assert info.value.reason == "expired"


def test_verify_rejections(tmp_path: Path) -> None:
    keyring = LogKeyring.load(tmp_path)
    other = LogKeyring(b"o" * 32)
    now = time.time()
    good = keyring.mint("g", "E", now=now, lifetime=600)
    cases = {
        "malformed": "not a token",
        "unknown_key": other.mint("g", "E", now=now, lifetime=600),
        "audience": jwt.encode(
            {"sub": "g", "aud": "else", "exp": int(now) + 600},
            keyring.current,
            algorithm="HS256",
            headers={"kid": keyring.kid},
        ),
        "bad_signature": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
    }
    for reason, token in cases.items():
        with pytest.raises(LogTokenError) as info:
            keyring.verify(token, now=now)
        assert info.value.reason == reason, reason


def test_a_token_with_a_future_nbf_is_refused(tmp_path: Path) -> None:
    keyring = LogKeyring.load(tmp_path)
    now = time.time()

    def token(nbf: object) -> str:
        claims = {"sub": "g", "aud": LOG_AUDIENCE, "entry": "E", "exp": int(now) + 600}
        claims["nbf"] = nbf
        return jwt.encode(claims, keyring.current, algorithm="HS256", headers={"kid": keyring.kid})

    for clock in (now, None):  # the injected clock and the wall clock
        with pytest.raises(LogTokenError) as info:
            keyring.verify(token(int(now) + 300), now=clock)
        assert info.value.reason == "not_yet_valid"
        assert keyring.verify(token(int(now) - 5), now=clock).glidein == "g"
    with pytest.raises(LogTokenError) as info:
        keyring.verify(token("soon"), now=now)
    assert info.value.reason == "invalid"


def test_rotation_keeps_old_tokens_verifying(tmp_path: Path) -> None:
    old = LogKeyring.load(tmp_path)
    old_token = old.mint("g-old", "CE1", now=NOW, lifetime=DAY)
    new = LogKeyring.rotate(tmp_path)
    assert new.kid != old.kid
    assert new.previous == old.current
    assert (tmp_path / PREV_KEY_FILE).read_bytes() == old.current
    assert stat.S_IMODE((tmp_path / PREV_KEY_FILE).stat().st_mode) == 0o600
    reloaded = LogKeyring.load(tmp_path)
    assert reloaded.verify(old_token, now=NOW + 60).glidein == "g-old"
    new_token = reloaded.mint("g-new", "CE1", now=NOW, lifetime=DAY)
    assert jwt.get_unverified_header(new_token)["kid"] == new.kid
    assert reloaded.verify(new_token, now=NOW + 60).glidein == "g-new"
    # ... until the old token's own exp.
    with pytest.raises(LogTokenError, match="expired"):
        reloaded.verify(old_token, now=NOW + DAY)
    assert LogKeyring.previous_rotated_at(tmp_path) == pytest.approx(time.time(), abs=60)

    # A second rotation keeps only one previous key: the first key's tokens stop verifying.
    LogKeyring.rotate(tmp_path)
    with pytest.raises(LogTokenError) as info:
        LogKeyring.load(tmp_path).verify(old_token, now=NOW + 60)
    assert info.value.reason == "unknown_key"


def test_insecure_or_bad_key_files_are_refused(tmp_path: Path) -> None:
    path = write_private(tmp_path / KEY_FILE, b"k" * 32, 0o644)
    with pytest.raises(CredentialError, match=r"mode 0644.*chmod 600"):
        LogKeyring.load(tmp_path)
    write_private(path, b"short", 0o600)
    with pytest.raises(CredentialError, match="need at least 32"):
        LogKeyring.load(tmp_path)
    write_private(path, b"", 0o600)
    with pytest.raises(CredentialError, match="empty"):
        LogKeyring.load(tmp_path)


def test_read_private_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="no such file"):
        read_private_file(tmp_path / "nope", "thing")
    with pytest.raises(CredentialError, match="cannot read"):
        read_private_file(tmp_path, "thing")
    path = write_private(tmp_path / "k", b"x", 0o620)
    with pytest.raises(CredentialError, match="writable by others"):
        read_private_file(path, "thing")
    path.chmod(0o400)
    assert read_private_file(path, "thing") == b"x"
