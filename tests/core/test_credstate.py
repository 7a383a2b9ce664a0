"""Whether a credential lets an entry get new glideins: expiring, missing, fine."""

from __future__ import annotations

import pytest

from aglidein.config import CredentialConfig
from aglidein.core.credstate import credential_blocks_new_glideins
from aglidein.core.model import CredentialState

NOW = 1_000_000.0
HOUR = 3600.0
TOKEN = CredentialConfig(name="t", type="scitoken", path="/t", min_lifetime=HOUR)


def _state(expires: float | None, *, refreshable: bool = False, ok: bool = True) -> CredentialState:
    return CredentialState("t", "scitoken", expires, refreshable, ok)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (_state(NOW + 10 * HOUR), None),  # outlives a glidein's walltime
        (_state(NOW + 5 * HOUR), "credential_expiring"),  # would die under a glidein
        (_state(NOW + 2 * HOUR, refreshable=True), None),  # renewed before min_lifetime
        (_state(NOW + HOUR / 2, refreshable=True), "credential_expiring"),  # renewal failing
        (_state(None), None),  # an ssh key: never expires
        (_state(NOW + 10 * HOUR, ok=False), "no_credential"),
        (None, "no_credential"),
    ],
)
def test_new_glideins_stop_before_a_credential_dies_under_them(
    state: CredentialState | None, expected: str | None
) -> None:
    assert credential_blocks_new_glideins(state, TOKEN, 6 * HOUR, NOW) == expected


def test_a_credential_missing_from_the_config_blocks() -> None:
    assert credential_blocks_new_glideins(_state(NOW + 10 * HOUR), None, HOUR, NOW) == (
        "no_credential"
    )
