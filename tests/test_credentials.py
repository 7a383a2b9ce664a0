"""Key files, glidein token files, credential lifetimes, atomic installs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from aglidein.config import parse_config_text
from aglidein.core.tokens import derive_signing_key
from aglidein.credentials import (
    PoolSigningKey,
    glidein_token_lifetime,
    jwt_expiry,
    mint_glidein_idtoken,
    read_credential,
    ssh_key_check,
    write_glidein_tokens,
    x509_expiry,
)
from aglidein.errors import CredentialError
from aglidein.logkeys import LogKeyring, atomic_write
from tests.credential_helpers import (
    certificate,
    config_text,
    proxy_file,
    scitoken,
    ssh_private_key,
    write_private,
)

NOW = 1_800_000_000.0


def _pyjwt_claims(token: str, key: bytes) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token, key, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    return claims


# --- the pool signing key ------------------------------------------------------------------


def test_signing_key_name_is_the_file_name(tmp_path: Path) -> None:
    write_private(tmp_path / "signing_key_2", b"secret bytes")
    key = PoolSigningKey.load(tmp_path / "signing_key_2")
    token = key.mint(trust_domain="t.org", identity="me@t.org", now=NOW, lifetime=None)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "signing_key_2"}
    claims = _pyjwt_claims(token, derive_signing_key("signing_key_2", b"secret bytes"))
    assert "exp" not in claims
    assert len(str(claims["jti"])) == 32


def test_signing_key_path_expands_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_private(tmp_path / "creds" / "POOL", b"k")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    assert PoolSigningKey.load("$CREDENTIALS_DIRECTORY/POOL").name == "POOL"


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (b"k", 0o644, r"readable by others \(mode 0644\); chmod 600 it"),
        (b"k", 0o604, "mode 0604"),
        (b"", 0o600, "empty"),
        (None, 0o600, "no such file"),
    ],
)
def test_bad_signing_key_files(
    tmp_path: Path, content: bytes | None, mode: int, message: str
) -> None:
    path = tmp_path / "POOL"
    if content is not None:
        write_private(path, content, mode)
    with pytest.raises(CredentialError, match=message):
        PoolSigningKey.load(path)


def test_token_from_wrong_key_does_not_verify(tmp_path: Path) -> None:
    key = PoolSigningKey(name="POOL", data=b"right")
    token = key.mint(trust_domain="t.org", identity="me@t.org", now=NOW, lifetime=60)
    with pytest.raises(jwt.InvalidSignatureError):
        _pyjwt_claims(token, derive_signing_key("POOL", b"wrong"))


# --- glidein tokens ------------------------------------------------------------------------


def test_glidein_idtoken_identity_scope_and_lifetime(tmp_path: Path) -> None:
    config = parse_config_text(config_text(tmp_path)).config
    key = PoolSigningKey.load(config.pool.signing_key)
    for entry_name, walltime in (("CE1", 48 * 3600), ("SHORT", 2 * 3600)):
        entry = config.entry(entry_name)
        assert glidein_token_lifetime(config, entry) == walltime + 3600
        token = mint_glidein_idtoken(config, entry, key, now=NOW)
        claims = _pyjwt_claims(token, derive_signing_key("POOL", key.data))
        assert claims["sub"] == "glidein@test.example.org"
        assert claims["iss"] == "test.example.org"
        assert claims["scope"] == "condor:/READ condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER"
        assert claims["exp"] == int(NOW) + walltime + 3600


def test_glidein_token_files(tmp_path: Path) -> None:
    config = parse_config_text(config_text(tmp_path)).config
    keyring = LogKeyring.load(tmp_path / "state")
    files = write_glidein_tokens(
        config,
        config.entry("SHORT"),
        "g-42",
        tmp_path / "submit",
        pool_key=PoolSigningKey.load(config.pool.signing_key),
        log_keys=keyring,
        now=NOW,
    )
    for path in (files.idtoken, files.log_token):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().count("\n") == 1
    claims = keyring.verify(files.log_token.read_text().strip(), now=NOW + 60)
    assert (claims.glidein, claims.entry, claims.expires) == ("g-42", "SHORT", int(NOW) + 3 * 3600)
    assert jwt.get_unverified_header(files.idtoken.read_text().strip())["kid"] == "POOL"


# --- lifetimes -----------------------------------------------------------------------------


def test_x509_expiry_is_the_earliest_not_after() -> None:
    proxy = proxy_file(NOW + 12 * 3600)
    assert x509_expiry(proxy) == NOW + 12 * 3600
    # A proxy cannot outlive the certificate that signed it.
    assert x509_expiry(proxy_file(NOW + 3 * 86400, issuer_not_after=NOW + 86400)) == NOW + 86400
    cert, _ = certificate(NOW + 60)
    assert x509_expiry(cert) == NOW + 60
    with pytest.raises(CredentialError, match=r"X\.509"):
        x509_expiry(b"garbage")


def test_jwt_expiry() -> None:
    assert jwt_expiry(scitoken(NOW + 3600).encode() + b"\n") == NOW + 3600
    assert jwt_expiry(scitoken(None).encode()) is None
    for bad in (b"not a jwt", "é".encode(), b"a.b.c"):
        with pytest.raises(CredentialError, match="not a JWT"):
            jwt_expiry(bad)


def test_ssh_key_check() -> None:
    ssh_key_check(ssh_private_key())
    with pytest.raises(CredentialError, match="not an SSH private key"):
        ssh_key_check(b"ssh-ed25519 AAAA... a public key")


def test_read_credential_by_type(tmp_path: Path) -> None:
    text = config_text(
        tmp_path,
        credentials=f"""\
  - {{name: osg, type: scitoken, path: {tmp_path / "osg.token"}}}
  - {{name: proxy, type: x509, path: {tmp_path / "x509up"}}}
  - {{name: ssh, type: ssh, path: {tmp_path / "id_ecdsa"}}}
""",
    )
    config = parse_config_text(text).config
    write_private(tmp_path / "osg.token", scitoken(NOW + 600))
    write_private(tmp_path / "x509up", proxy_file(NOW + 7200))
    write_private(tmp_path / "id_ecdsa", ssh_private_key())
    assert read_credential(config.credential("osg")).expires == NOW + 600
    assert read_credential(config.credential("proxy")).expires == NOW + 7200
    assert read_credential(config.credential("ssh")).expires is None
    (tmp_path / "id_ecdsa").chmod(0o644)
    with pytest.raises(CredentialError, match=r"credential ssh .*chmod 600"):
        read_credential(config.credential("ssh"))
    write_private(tmp_path / "osg.token", "garbage")
    with pytest.raises(CredentialError, match=r"credential osg .*osg\.token: not a JWT"):
        read_credential(config.credential("osg"))


# --- atomic installs -----------------------------------------------------------------------


def test_atomic_write_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        atomic_write(tmp_path / "t" / "token", b"secret")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t" / "token").stat().st_mode) == 0o600


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_private(tmp_path / "token", b"old token\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write(path, b"new token\n")
    assert path.read_bytes() == b"old token\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]


_KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from aglidein.logkeys import atomic_write
real_fsync = os.fsync
def slow_fsync(fd):
    sys.stdout.write("writing\\n"); sys.stdout.flush()
    time.sleep(60)
os.fsync = slow_fsync
atomic_write(Path(sys.argv[1]), b"N" * (4 * 1024 * 1024))
"""


def test_killed_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    path = write_private(tmp_path / "token", b"old token\n")
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == b"writing\n"  # data written, not yet renamed
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
    assert path.read_bytes() == b"old token\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    leftovers = [p for p in tmp_path.iterdir() if p.name != "token"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in leftovers)  # temp: private
