"""IDTOKEN minting against tokens HTCondor itself minted (tests/fixtures/tokens/vectors.json)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from aglidein.core.tokens import (
    GLIDEIN_AUTHZ,
    TokenFormatError,
    derive_signing_key,
    hkdf_sha256,
    mint_idtoken,
    picojson_dumps,
    signing_secret,
    unverified_claims,
    unverified_header,
    verify_hs256,
)
from tests.credential_helpers import TOKEN_VECTORS

VECTORS: list[dict[str, Any]] = json.loads(TOKEN_VECTORS.read_text())
JTI = "0123456789abcdef0123456789abcdef"


def _b64url_json(segment: str) -> tuple[bytes, Any]:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return raw, json.loads(raw)


def test_all_eight_vectors_are_present() -> None:
    assert len(VECTORS) == 8


@pytest.mark.parametrize("case", VECTORS, ids=[v["description"][:40] for v in VECTORS])
def test_vector_verifies_with_derived_key(case: dict[str, Any]) -> None:
    key_file = base64.b64decode(case["key_file_b64"])
    key = derive_signing_key(case["key_name"], key_file)
    assert key.hex() == case["hs256_key_hex"]
    assert signing_secret(case["key_name"], key_file) == base64.b64decode(case["hkdf_input_b64"])
    token = case["token"]
    assert verify_hs256(token, key)

    header_raw, header = _b64url_json(token.split(".")[0])
    assert header == {"alg": "HS256", "kid": case["key_name"]}
    assert b"typ" not in header_raw

    claims = jwt.decode(
        token,
        key,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
    )
    expected: dict[str, Any] = {
        "iss": case["trust_domain"],
        "sub": case["identity"],
        "iat": case["iat"],
        "jti": case["jti"],
    }
    if case["exp"] is not None:
        expected["exp"] = case["exp"]
    if case["scope"] is not None:
        expected["scope"] = case["scope"]
    assert claims == expected


@pytest.mark.parametrize("case", VECTORS, ids=[v["description"][:40] for v in VECTORS])
def test_vector_reminted_byte_for_byte(case: dict[str, Any]) -> None:
    lifetime = None if case["lifetime"] < 0 else case["lifetime"]
    token = mint_idtoken(
        key_name=case["key_name"],
        key_file=base64.b64decode(case["key_file_b64"]),
        trust_domain=case["trust_domain"],
        identity=case["identity"],
        now=case["iat"],
        jti=case["jti"],
        lifetime=lifetime,
        authz=case["authz"],
    )
    assert token == case["token"]


def test_wrong_key_does_not_verify() -> None:
    case = VECTORS[0]
    other = derive_signing_key("POOL", b"some-other-key")
    assert not verify_hs256(case["token"], other)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(case["token"], other, algorithms=["HS256"])


def test_pool_secret_doubles_the_xored_bytes_not_the_file() -> None:
    # 15 bytes: XOR of the file written twice would restart the pad at byte 15, not byte 0.
    data = b"pool-secret-015"
    once = signing_secret("signing_key_2", data)
    assert signing_secret("POOL", data) == once + once
    assert signing_secret("", data) == once + once
    assert signing_secret("POOL", data) != signing_secret("other", data + data)


def test_glidein_token_verifies_with_pyjwt() -> None:
    key_file = b"a pool key\n"
    token = mint_idtoken(
        key_name="POOL",
        key_file=key_file,
        trust_domain="cm.example.org",
        identity="glidein@cm.example.org",
        now=1_800_000_000.7,
        jti=JTI,
        lifetime=49 * 3600,
    )
    claims = jwt.decode(
        token,
        derive_signing_key("POOL", key_file),
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": "cm.example.org",
        "sub": "glidein@cm.example.org",
        "iat": 1_800_000_000,
        "exp": 1_800_000_000 + 49 * 3600,
        "jti": JTI,
        "scope": "condor:/READ condor:/ADVERTISE_STARTD condor:/ADVERTISE_MASTER",
    }
    assert GLIDEIN_AUTHZ == ("READ", "ADVERTISE_STARTD", "ADVERTISE_MASTER")
    assert b"condor:\\/READ" in _b64url_json(token.split(".")[1])[0]


def test_picojson_escaping() -> None:
    text = 'a/b"c\\d\b\f\n\r\t\x01\x1f\x7fé€'
    encoded = picojson_dumps({"z": 1, "a": text, "m": None, "b": True})
    expected = (
        '{"a":"a\\/b\\"c\\\\d\\b\\f\\n\\r\\t\\u0001\\u001f\\u007fé€","b":true,"m":null,"z":1}'
    )
    assert encoded == expected.encode("utf-8")
    assert json.loads(encoded) == {"z": 1, "a": text, "m": None, "b": True}


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=20) | st.integers(), max_size=6))
def test_picojson_output_is_json_with_sorted_keys(obj: dict[str, str | int]) -> None:
    encoded = picojson_dumps(obj)
    assert json.loads(encoded) == obj
    assert list(json.loads(encoded)) == sorted(obj, key=lambda k: k.encode())


@given(st.binary(min_size=1, max_size=200), st.binary(max_size=16), st.integers(1, 100))
def test_hkdf_matches_cryptography(secret: bytes, info: bytes, length: int) -> None:
    reference = HKDF(algorithm=hashes.SHA256(), length=length, salt=b"htcondor", info=info)
    assert hkdf_sha256(secret, salt=b"htcondor", info=info, length=length) == reference.derive(
        secret
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jti": "XYZ"}, "jti"),
        ({"jti": JTI.upper()}, "jti"),
        ({"lifetime": -5}, "negative"),
        ({"authz": ["READ WRITE"]}, "authorization"),
        ({"identity": ""}, "empty"),
        ({"key_file": b""}, "empty"),
    ],
)
def test_bad_inputs_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "key_name": "POOL",
        "key_file": b"k",
        "trust_domain": "t.example.org",
        "identity": "me@t.example.org",
        "now": 1_800_000_000,
        "jti": JTI,
    }
    args.update(kwargs)
    with pytest.raises(TokenFormatError, match=message):
        mint_idtoken(**args)


def test_unverified_readers() -> None:
    token = VECTORS[1]["token"]
    assert unverified_header(token) == {"alg": "HS256", "kid": "POOL"}
    assert unverified_claims(token)["exp"] == VECTORS[1]["exp"]
    for bad in ("", "abc", "a.b", "!!!.@@@.x", "e30.W10.x"):
        with pytest.raises(TokenFormatError):
            unverified_claims(bad)
