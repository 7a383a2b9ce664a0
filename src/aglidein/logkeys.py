"""The factory's log-signing keys and per-glidein log tokens (DESIGN §7).

`state_dir/log-signing.key` (0600, created on first start) signs HS256 JWTs with
`kid` = first 16 hex chars of the key's sha256, `sub` = glidein id, `aud` =
`aglidein-logs`, `entry`, `exp`. Rotation moves the key to `log-signing.key.prev`,
which keeps verifying until its last token has expired (their `exp` says when).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from aglidein.errors import CredentialError

__all__ = [
    "KEY_BYTES",
    "KEY_FILE",
    "LOG_AUDIENCE",
    "PREV_KEY_FILE",
    "LogClaims",
    "LogKeyring",
    "LogTokenError",
    "atomic_write",
    "key_id",
    "private_database",
    "read_private_file",
]

KEY_FILE = "log-signing.key"
PREV_KEY_FILE = "log-signing.key.prev"
LOG_AUDIENCE = "aglidein-logs"
KEY_BYTES = 32  # HS256 wants a key at least as long as its digest


class LogTokenError(CredentialError):
    """A log token that does not verify; `reason` is a short metric label."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class LogClaims:
    """What a verified log token says."""

    glidein: str
    entry: str
    expires: int


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` atomically: temp file, fsync, rename; file mode `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def private_database(path: Path) -> None:
    """Create `path` empty with mode 0600 (or make an existing one 0600) before SQLite
    opens it: SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)


def _fsync_dir(directory: Path) -> None:
    """Make a rename or link in `directory` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_private_file(path: Path, what: str) -> bytes:
    """Read a key file; refuse a missing, empty, or group/world-readable one."""
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise CredentialError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise CredentialError(f"{what} {path}: cannot read: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        how = "readable" if info.st_mode & (stat.S_IRGRP | stat.S_IROTH) else "writable"
        raise CredentialError(
            f"{what} {path}: {how} by others (mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it"
        )
    if not data:
        raise CredentialError(f"{what} {path}: file is empty")
    return data


def _create_key(path: Path) -> None:
    """Create a new random key at `path` unless one appears meanwhile (never replace one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    atomic_write(tmp, secrets.token_bytes(KEY_BYTES))
    try:
        os.link(tmp, path)  # fails if another process (daemon, CLI) created it first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _read_key(path: Path) -> bytes:
    key = read_private_file(path, "log key")
    if len(key) < KEY_BYTES:
        raise CredentialError(
            f"log key {path}: {len(key)} bytes, need at least {KEY_BYTES}; "
            "move it away and let aglidein create a new one"
        )
    return key


def key_id(key: bytes) -> str:
    """The `kid` of a key: the first 16 hex chars of its sha256."""
    return hashlib.sha256(key).hexdigest()[:16]


class LogKeyring:
    """The current log key and the previous one (after a rotation)."""

    def __init__(self, current: bytes, previous: bytes | None = None) -> None:
        self.current = current
        self.previous = previous
        self._by_kid = {key_id(current): current}
        if previous is not None:
            self._by_kid.setdefault(key_id(previous), previous)

    @classmethod
    def load(cls, state_dir: Path, *, create: bool = True) -> LogKeyring:
        """Read the keys from `state_dir`, creating the current key (0600) if missing."""
        path = state_dir / KEY_FILE
        if not path.exists():
            if not create:
                raise CredentialError(f"log key {path}: no such file")
            _create_key(path)
        current = _read_key(path)
        prev_path = state_dir / PREV_KEY_FILE
        previous = _read_key(prev_path) if prev_path.exists() else None
        return cls(current, previous)

    @staticmethod
    def rotate(state_dir: Path) -> LogKeyring:
        """Move the current key to `.prev` and create a new current key."""
        path = state_dir / KEY_FILE
        current = _read_key(path) if path.exists() else None
        if current is not None:
            atomic_write(state_dir / PREV_KEY_FILE, current)
        atomic_write(path, secrets.token_bytes(KEY_BYTES))
        return LogKeyring.load(state_dir, create=False)

    @staticmethod
    def previous_rotated_at(state_dir: Path) -> float | None:
        """When the current `.prev` key was retired (its file's mtime), or None."""
        try:
            return (state_dir / PREV_KEY_FILE).stat().st_mtime
        except FileNotFoundError:
            return None

    @property
    def kid(self) -> str:
        """The `kid` new tokens carry."""
        return key_id(self.current)

    def mint(self, glidein: str, entry: str, *, now: float, lifetime: float) -> str:
        """A log token for one glidein, valid `lifetime` seconds from `now`."""
        claims = {
            "sub": glidein,
            "aud": LOG_AUDIENCE,
            "entry": entry,
            "iat": int(now),
            "exp": int(now + lifetime),
        }
        return jwt.encode(claims, self.current, algorithm="HS256", headers={"kid": self.kid})

    def verify(self, token: str, *, now: float | None = None) -> LogClaims:
        """The claims of a valid token, or LogTokenError with a reason."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise LogTokenError("malformed", "log token is not a JWT") from None
        if header.get("alg") != "HS256":
            raise LogTokenError("bad_signature", "log token must be HS256")
        key = self._by_kid.get(str(header.get("kid", "")))
        if key is None:
            raise LogTokenError("unknown_key", "log token signed by an unknown key")
        # With an injected clock (simulator, tests) the wall clock must not judge expiry.
        options: dict[str, Any] = {"require": ["exp", "sub", "aud"]}
        if now is not None:
            options.update(verify_exp=False, verify_iat=False, verify_nbf=False)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                audience=LOG_AUDIENCE,
                options=options,  # type: ignore[arg-type]
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise LogTokenError("expired", "log token has expired") from None
        except jwt.ImmatureSignatureError:
            raise LogTokenError("not_yet_valid", "log token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise LogTokenError("audience", "log token is not for aglidein-logs") from None
        except jwt.InvalidSignatureError:
            raise LogTokenError("bad_signature", "log token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise LogTokenError("invalid", f"log token invalid: {exc}") from None
        try:
            expires = int(claims["exp"])
        except (TypeError, ValueError):
            raise LogTokenError("invalid", "log token exp is not a number") from None
        if now is not None and expires <= now:
            raise LogTokenError("expired", "log token has expired")
        if "nbf" in claims:
            not_before = claims["nbf"]
            if type(not_before) not in (int, float):
                raise LogTokenError("invalid", "log token nbf is not a number")
            if now is not None and not_before > now:  # without `now` PyJWT checked it
                raise LogTokenError("not_yet_valid", "log token is not valid yet (nbf)")
        return LogClaims(
            glidein=str(claims["sub"]), entry=str(claims.get("entry", "")), expires=expires
        )
