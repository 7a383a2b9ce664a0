"""Credential files: the pool signing key, glidein tokens, and credential lifetimes.

The I/O side of `aglidein.core.tokens`: it reads key files (refusing empty, missing or
group/world-accessible ones), mints a glidein's IDTOKEN and log token and writes them
0600, and reads how long a configured credential still lives (X.509 `notAfter`, a
JWT's `exp` without verifying it, an SSH key's presence and permissions).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from aglidein.config import Config, CredentialConfig, EntryConfig, expand_path
from aglidein.core.credstate import entry_max_walltime
from aglidein.core.tokens import (
    GLIDEIN_AUTHZ,
    TokenFormatError,
    derive_signing_key,
    mint_idtoken,
    unverified_claims,
)
from aglidein.errors import CredentialError
from aglidein.logkeys import LogKeyring, atomic_write, read_private_file

__all__ = [
    "TOKEN_GRACE",
    "CredentialReading",
    "GlideinTokenFiles",
    "PoolSigningKey",
    "glidein_token_lifetime",
    "jwt_expiry",
    "mint_glidein_idtoken",
    "read_credential",
    "ssh_key_check",
    "write_glidein_tokens",
    "write_token_file",
    "x509_expiry",
]

TOKEN_GRACE = 3600.0  # glidein tokens outlive max_walltime by an hour (DESIGN §7)


@dataclass(frozen=True, slots=True)
class PoolSigningKey:
    """A pool signing key file: its name (the file name) and bytes."""

    name: str
    data: bytes

    @classmethod
    def load(cls, path: str | Path) -> PoolSigningKey:
        """Read a signing key file (`$VARS` expanded); CredentialError if unusable."""
        file = expand_path(str(path))
        data = read_private_file(file, "signing key")
        key = cls(name=file.name, data=data)
        key.check()
        return key

    def check(self) -> None:
        """Raise CredentialError unless a key can be derived from this file."""
        try:
            derive_signing_key(self.name, self.data)
        except TokenFormatError as exc:
            raise CredentialError(f"signing key {self.name}: {exc}") from None

    def mint(
        self,
        *,
        trust_domain: str,
        identity: str,
        now: float,
        lifetime: float | None,
        authz: tuple[str, ...] = GLIDEIN_AUTHZ,
        jti: str | None = None,
    ) -> str:
        """An IDTOKEN signed with this key (a fresh random `jti` unless given)."""
        try:
            return mint_idtoken(
                key_name=self.name,
                key_file=self.data,
                trust_domain=trust_domain,
                identity=identity,
                now=now,
                jti=jti or secrets.token_hex(16),
                lifetime=lifetime,
                authz=authz,
            )
        except TokenFormatError as exc:
            raise CredentialError(f"cannot mint an IDTOKEN: {exc}") from None


def glidein_token_lifetime(config: Config, entry: EntryConfig) -> float:
    """Seconds a glidein's tokens live: the entry's effective `max_walltime` + 1 h."""
    return entry_max_walltime(config, entry) + TOKEN_GRACE


def mint_glidein_idtoken(
    config: Config, entry: EntryConfig, key: PoolSigningKey, *, now: float
) -> str:
    """The IDTOKEN a glidein of `entry` joins the pool with (`sub` = pool identity)."""
    return key.mint(
        trust_domain=config.pool.trust_domain,
        identity=config.pool.identity,
        now=now,
        lifetime=glidein_token_lifetime(config, entry),
    )


def write_token_file(path: Path, token: str) -> None:
    """Install a token file atomically, mode 0600, one line."""
    atomic_write(path, token.strip().encode("ascii") + b"\n", 0o600)


@dataclass(frozen=True, slots=True)
class GlideinTokenFiles:
    """The two token files one glidein submission carries."""

    idtoken: Path
    log_token: Path


def write_glidein_tokens(
    config: Config,
    entry: EntryConfig,
    glidein_id: str,
    directory: Path,
    *,
    pool_key: PoolSigningKey,
    log_keys: LogKeyring,
    now: float,
) -> GlideinTokenFiles:
    """Mint and write (0600) a glidein's IDTOKEN and log token into `directory`."""
    lifetime = glidein_token_lifetime(config, entry)
    files = GlideinTokenFiles(
        idtoken=directory / f"{glidein_id}.idtoken", log_token=directory / f"{glidein_id}.logtoken"
    )
    write_token_file(files.idtoken, mint_glidein_idtoken(config, entry, pool_key, now=now))
    write_token_file(
        files.log_token, log_keys.mint(glidein_id, entry.name, now=now, lifetime=lifetime)
    )
    return files


# --- lifetimes of configured credentials ---------------------------------------------------


def x509_expiry(data: bytes) -> float:
    """When an X.509 proxy (PEM) stops working: the earliest `notAfter` of its certificates."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CredentialError("not a PEM X.509 certificate or proxy") from None
    if not certs:  # pragma: no cover - cryptography raises on no certificate
        raise CredentialError("no certificate in the proxy file")
    return min(cert.not_valid_after_utc.timestamp() for cert in certs)


def jwt_expiry(data: bytes) -> float | None:
    """A JWT's `exp` (signature not verified); None when it has none."""
    try:
        text = data.decode("ascii").strip()
        claims = unverified_claims(text)
    except (UnicodeDecodeError, TokenFormatError) as exc:
        raise CredentialError(f"not a JWT: {exc}") from None
    exp = claims.get("exp")
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise CredentialError("the token's exp is not a number")
    return float(exp)


_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


def ssh_key_check(data: bytes) -> None:
    """Raise CredentialError unless `data` looks like a private key (OpenSSH or PEM)."""
    if not _PRIVATE_KEY.search(data):
        raise CredentialError("not an SSH private key (no BEGIN ... PRIVATE KEY line)")


@dataclass(frozen=True, slots=True)
class CredentialReading:
    """What a credential file says: when it expires (None: never / unknown)."""

    expires: float | None


def check_credential_bytes(credential: CredentialConfig, data: bytes) -> CredentialReading:
    """Validate credential bytes of the configured type; CredentialError if not usable."""
    if not data.strip():
        raise CredentialError("empty credential")
    if credential.type == "x509":
        return CredentialReading(expires=x509_expiry(data))
    if credential.type in ("scitoken", "idtoken"):
        return CredentialReading(expires=jwt_expiry(data))
    ssh_key_check(data)
    return CredentialReading(expires=None)


def read_credential(credential: CredentialConfig) -> CredentialReading:
    """Read and check the installed file of a configured credential."""
    path = expand_path(credential.path)
    data = read_private_file(path, f"credential {credential.name}")
    try:
        return check_credential_bytes(credential, data)
    except CredentialError as exc:
        raise CredentialError(f"credential {credential.name} {path}: {exc}") from None
