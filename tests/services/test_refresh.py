"""What a refresh command may leak is redacted before it is logged; `$VAR`s expand."""

from __future__ import annotations

import pytest

from aglidein.services.refresh import expand_vars, redact_secrets


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("Authorization: Bearer abcdef123456", "Bearer [redacted]", "abcdef123456"),
        ("token=s3cr3tvalue9", "token=[redacted]", "s3cr3tvalue9"),
        ("got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "[redacted JWT]", "eyJhbGci"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
            "[redacted PEM block]",
            "MIIE",
        ),
        ("opaque Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo=", "[redacted]", "Zm9vYmFy"),
    ],
)
def test_secrets_are_redacted(text: str, kept: str, gone: str) -> None:
    out = redact_secrets(text)
    assert kept in out
    assert gone not in out


def test_paths_and_plain_words_stay_and_long_text_is_cut() -> None:
    text = "/etc/grid-security/certificates/0123456789abcdef0123456789abcdef.0 not found"
    assert redact_secrets(text) == text
    cut = redact_secrets("x " * 100, limit=10)
    assert cut.startswith("x x x x x ")
    assert cut.endswith("[190 more characters not logged]")


def test_variables_expand_like_the_shell_and_unknown_ones_stay() -> None:
    env = {"HOME": "/h", "NAME": "t"}
    assert expand_vars("$HOME/${NAME}.tok $OTHER", env) == "/h/t.tok $OTHER"
