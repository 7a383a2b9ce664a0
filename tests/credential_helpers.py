"""Builders for credential tests: JWTs, X.509 proxies, SSH keys, configs with credentials."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.daemon_helpers import JOB_OWNER_LINE

# HTCondor-minted IDTOKENs (how they were made: tests/fixtures/tokens/README.md).
TOKEN_VECTORS = Path(__file__).resolve().parent / "fixtures" / "tokens" / "vectors.json"

CE_KEY = b"a-ce-issuer-key-of-32-bytes-long"


def scitoken(exp: float | None, *, sub: str = "osg-pilot") -> str:
    """A JWT like a SciToken, signed with some key (readers do not verify it)."""
    claims: dict[str, object] = {"sub": sub, "iss": "https://scitokens.example.org"}
    if exp is not None:
        claims["exp"] = int(exp)
    return jwt.encode(claims, CE_KEY, algorithm="HS256")


def write_private(path: Path, data: bytes | str, mode: int = 0o600) -> Path:
    """Write a file with `mode` (default 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    return path


def certificate(not_after: float, name: str = "proxy") -> tuple[bytes, bytes]:
    """A self-signed certificate expiring at `not_after`: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.fromtimestamp(int(not_after), dt.UTC))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def proxy_file(not_after: float, issuer_not_after: float | None = None) -> bytes:
    """An X.509 proxy as grid tools write it: proxy cert, its key, then the issuer chain."""
    cert, key = certificate(not_after)
    issuer, _ = certificate(issuer_not_after or time.time() + 365 * 86400, "user")
    return cert + key + issuer


def ssh_private_key() -> bytes:
    """An OpenSSH private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


def config_text(
    tmp: Path,
    *,
    credentials: str = "",
    entries: str = "",
    glidein: str = "{max_walltime: 48h}",
) -> str:
    """A config whose pool key is `tmp/POOL` (created 0600 if missing)."""
    key = tmp / "POOL"
    if not key.exists():
        write_private(key, os.urandom(32))
    return f"""\
factory:
  name: test-factory
  state_dir: {tmp / "state"}
  glidein: {glidein}
{JOB_OWNER_LINE}pool:
  collector: 127.0.0.1:9618
  trust_domain: test.example.org
  signing_key: {key}
entries:
  - name: CE1
    gridtype: condor
    gatekeeper: ce1.example.org ce1.example.org:9619
    auth: {{method: idtoken}}
  - name: SHORT
    gridtype: condor
    gatekeeper: ce2.example.org ce2.example.org:9619
    auth: {{method: idtoken}}
    glidein: {{max_walltime: 2h}}
{entries}
credentials: {"[]" if not credentials else ""}
{credentials}
"""
