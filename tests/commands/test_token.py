"""`aglidein token idtoken|log|rotate-log-key` as a user runs them."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from aglidein.cli import main
from aglidein.core.tokens import derive_signing_key
from aglidein.logkeys import KEY_FILE, LogKeyring, LogTokenError
from tests.credential_helpers import config_text, write_private


def _claims(token: str, key: bytes) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, key, algorithms=["HS256"])
    return claims


def test_idtoken_default_glidein_scope_no_expiry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write_private(tmp_path / "POOL", b"pool key bytes\n")
    status = main(
        [
            "token",
            "idtoken",
            "--key",
            str(key),
            "--trust-domain",
            "cm.example.org",
            "--identity",
            "glidein@cm.example.org",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert out.count("\n") == 1
    token = out.strip()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "POOL"}
    claims = _claims(token, derive_signing_key("POOL", b"pool key bytes\n"))
    assert claims["sub"] == "glidein@cm.example.org"
    assert claims["iss"] == "cm.example.org"
    assert claims["scope"] == "condor:/READ condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER"
    assert "exp" not in claims
    assert abs(int(str(claims["iat"])) - time.time()) < 60


def test_idtoken_lifetime_scope_and_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write_private(tmp_path / "signing_key_2", os.urandom(32))
    out_file = tmp_path / "out" / "token"
    status = main(
        [
            "token",
            "idtoken",
            "--key",
            str(key),
            "--trust-domain",
            "ap.example.com",
            "--identity",
            "condor@ap.example.com",
            "--lifetime",
            "7d",
            "--scope",
            "READ,WRITE",
            "-o",
            str(out_file),
        ]
    )
    assert status == 0
    assert capsys.readouterr().out == ""
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    token = out_file.read_text().strip()
    assert jwt.get_unverified_header(token)["kid"] == "signing_key_2"
    claims = _claims(token, derive_signing_key("signing_key_2", key.read_bytes()))
    assert claims["scope"] == "condor:/READ condor:/WRITE"
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 7 * 86400


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (b"key", 0o644, "chmod 600"),
        (b"", 0o600, "empty"),
        (None, 0o600, "no such file"),
    ],
)
def test_idtoken_refuses_bad_keys(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    mode: int,
    message: str,
) -> None:
    key = tmp_path / "POOL"
    if content is not None:
        write_private(key, content, mode)
    args = ["token", "idtoken", "--key", str(key), "--trust-domain", "t", "--identity", "i"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_idtoken_bad_lifetime_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = write_private(tmp_path / "POOL", b"k")
    args = ["token", "idtoken", "--key", str(key), "--trust-domain", "t", "--identity", "i"]
    assert main([*args, "--lifetime", "soon"]) == 1
    assert "--lifetime" in capsys.readouterr().err


def test_log_tokens_one_per_line_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "aglidein.yaml"
    config.write_text(config_text(tmp_path))
    key_file = tmp_path / "state" / KEY_FILE
    assert not key_file.exists()
    ids = ["g-3", "g-1", "g-2"]
    argv = ["token", "log", "--config", str(config), "--entry", "SHORT"]
    for glidein in ids:
        argv += ["--glidein", glidein]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # created on demand
    keyring = LogKeyring.load(tmp_path / "state", create=False)
    now = time.time()
    for glidein, token in zip(ids, lines, strict=True):
        claims = keyring.verify(token, now=now)
        assert claims.glidein == glidein
        assert claims.entry == "SHORT"
        assert claims.expires == pytest.approx(now + 3 * 3600, abs=60)  # 2h walltime + 1h


def test_log_token_unknown_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "aglidein.yaml"
    config.write_text(config_text(tmp_path))
    argv = ["token", "log", "--config", str(config), "--entry", "NOPE", "--glidein", "g"]
    assert main(argv) == 1
    assert "no entry 'NOPE'" in capsys.readouterr().err


def test_rotate_log_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "aglidein.yaml"
    config.write_text(config_text(tmp_path))
    state = tmp_path / "state"
    first = LogKeyring.load(state)
    old_token = first.mint("g-old", "CE1", now=time.time(), lifetime=3600)

    assert main(["token", "rotate-log-key", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"previous key {first.kid}" in out
    rotated = LogKeyring.load(state, create=False)
    assert rotated.kid != first.kid
    assert rotated.verify(old_token, now=time.time()).glidein == "g-old"

    # Rotating again at once would drop the key old_token needs: refused without --force.
    assert main(["token", "rotate-log-key", "--config", str(config)]) == 1
    assert "--force" in capsys.readouterr().err
    assert LogKeyring.load(state, create=False).kid == rotated.kid

    assert main(["token", "rotate-log-key", "--config", str(config), "--force"]) == 0
    with pytest.raises(LogTokenError, match="unknown key"):
        LogKeyring.load(state, create=False).verify(old_token, now=time.time())
