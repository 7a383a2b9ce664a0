"""IDTOKEN minting, byte-compatible with HTCondor's `condor_token_create` (DESIGN §7).

Pure: the caller passes the key-file bytes, the time and the `jti`; nothing here reads
a file, a clock or a random source. The rules (checked against tokens HTCondor minted,
see tests/fixtures/tokens/README.md):

- secret = key-file bytes XOR the repeating `DE AD BE EF` (nothing stripped); for the
  key name `POOL` (or empty) the XORed bytes twice;
- signing key = HKDF-SHA256(secret, salt `htcondor`, info `master jwt`, 32 bytes);
- header `{"alg":"HS256","kid":<key name>}`; claims `exp` (when a lifetime is given),
  `iat`, `iss`, `jti`, `scope` (when there are authorizations), `sub`;
- JSON as picojson writes it: sorted keys, no spaces, `/` escaped as `\\/`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "GLIDEIN_AUTHZ",
    "POOL_KEY_NAME",
    "TokenFormatError",
    "derive_signing_key",
    "encode_hs256",
    "hkdf_sha256",
    "idtoken_claims",
    "mint_idtoken",
    "picojson_dumps",
    "signing_secret",
    "unverified_claims",
    "unverified_header",
    "verify_hs256",
]

POOL_KEY_NAME = "POOL"
GLIDEIN_AUTHZ: tuple[str, ...] = ("READ", "ADVERTISE_STARTD", "ADVERTISE_MASTER")

_XOR_PAD = b"\xde\xad\xbe\xef"
_HKDF_SALT = b"htcondor"
_HKDF_INFO = b"master jwt"
_JTI = re.compile(r"^[0-9a-f]{32}$")
_AUTHZ = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

JsonScalar = str | int | bool | None


class TokenFormatError(ValueError):
    """A token or a minting input that is not well formed."""


# --- key derivation ------------------------------------------------------------------------


def signing_secret(key_name: str, key_file: bytes) -> bytes:
    """HTCondor's password for a signing key file: XOR-scrambled bytes, doubled for POOL."""
    scrambled = bytes(b ^ _XOR_PAD[i % 4] for i, b in enumerate(key_file))
    if key_name in (POOL_KEY_NAME, ""):
        return scrambled + scrambled
    return scrambled


def hkdf_sha256(secret: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def derive_signing_key(key_name: str, key_file: bytes) -> bytes:
    """The 32-byte HS256 key HTCondor derives from a signing key file."""
    if not key_file:
        raise TokenFormatError("the signing key file is empty")
    return hkdf_sha256(
        signing_secret(key_name, key_file), salt=_HKDF_SALT, info=_HKDF_INFO, length=32
    )


# --- JSON as picojson writes it ------------------------------------------------------------

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _picojson_str(text: str) -> str:
    out = ['"']
    for char in text:
        escaped = _SHORT_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)  # non-ASCII stays raw (UTF-8 on encoding)
    out.append('"')
    return "".join(out)


def _picojson_value(value: JsonScalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _picojson_str(value)


def picojson_dumps(obj: Mapping[str, JsonScalar]) -> bytes:
    """A flat JSON object as HTCondor's picojson writes it: sorted keys, no whitespace."""
    items = sorted(obj.items(), key=lambda kv: kv[0].encode("utf-8"))
    body = ",".join(f"{_picojson_str(k)}:{_picojson_value(v)}" for k, v in items)
    return ("{" + body + "}").encode("utf-8")


# --- JWS -----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenFormatError("a token segment is not base64url") from None


def encode_hs256(
    header: Mapping[str, JsonScalar], claims: Mapping[str, JsonScalar], key: bytes
) -> str:
    """A compact HS256 JWS of `claims`, both parts serialised the picojson way."""
    signing_input = f"{_b64url(picojson_dumps(header))}.{_b64url(picojson_dumps(claims))}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def _segments(token: str) -> list[str]:
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenFormatError("not a JWT (expected three dot-separated parts)")
    return parts


def _decode_object(segment: str, what: str) -> dict[str, object]:
    try:
        value = json.loads(_b64url_decode(segment))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TokenFormatError(f"the token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenFormatError(f"the token {what} is not a JSON object")
    return value


def unverified_header(token: str) -> dict[str, object]:
    """A JWT's header, signature not checked."""
    return _decode_object(_segments(token)[0], "header")


def unverified_claims(token: str) -> dict[str, object]:
    """A JWT's claims, signature not checked (e.g. to read `exp` of a SciToken)."""
    return _decode_object(_segments(token)[1], "claims")


def verify_hs256(token: str, key: bytes) -> bool:
    """Whether an HS256 token's signature is valid under `key` (claims not checked)."""
    header, claims, signature = _segments(token)
    expected = hmac.new(key, f"{header}.{claims}".encode("ascii"), hashlib.sha256).digest()
    return hmac.compare_digest(expected, _b64url_decode(signature))


# --- IDTOKENs ------------------------------------------------------------------------------


def idtoken_claims(
    *,
    trust_domain: str,
    identity: str,
    iat: int,
    jti: str,
    lifetime: int | None = None,
    authz: Sequence[str] = (),
) -> dict[str, JsonScalar]:
    """The claims `condor_token_create` would write (`lifetime` None: no `exp`)."""
    if not _JTI.match(jti):
        raise TokenFormatError("jti must be 32 lowercase hex characters")
    if lifetime is not None and lifetime < 0:
        raise TokenFormatError("a token lifetime must not be negative")
    if not trust_domain or not identity:
        raise TokenFormatError("trust domain and identity must not be empty")
    for name in authz:
        if not _AUTHZ.match(name):
            raise TokenFormatError(f"bad authorization name {name!r}")
    claims: dict[str, JsonScalar] = {"iat": iat, "iss": trust_domain, "jti": jti, "sub": identity}
    if lifetime is not None:
        claims["exp"] = iat + lifetime
    if authz:
        claims["scope"] = "condor:/" + " condor:/".join(authz)
    return claims


def mint_idtoken(
    *,
    key_name: str,
    key_file: bytes,
    trust_domain: str,
    identity: str,
    now: float,
    jti: str,
    lifetime: float | None = None,
    authz: Sequence[str] = GLIDEIN_AUTHZ,
) -> str:
    """An IDTOKEN signed with a pool signing key file, as `condor_token_create` makes it.

    `now` becomes `iat` (whole seconds), `exp` = `iat + lifetime` when a lifetime is
    given; `jti` is 32 hex chars the caller generated (`secrets.token_hex(16)`).
    """
    claims = idtoken_claims(
        trust_domain=trust_domain,
        identity=identity,
        iat=int(now),
        jti=jti,
        lifetime=None if lifetime is None else int(lifetime),
        authz=authz,
    )
    header: dict[str, JsonScalar] = {"alg": "HS256", "kid": key_name or POOL_KEY_NAME}
    return encode_hs256(header, claims, derive_signing_key(key_name, key_file))
