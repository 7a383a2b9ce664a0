"""The CE credential of an `idtoken` entry: a `credentials[]` item of type idtoken (an
IDTOKEN signed by the CE's key), separate from the pool IDTOKEN the glideins get."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aglidein.config import parse_config_text
from aglidein.core.submit import GlideinFiles, PilotFiles, render_submit
from aglidein.credentials import read_credential
from aglidein.errors import ConfigError, CredentialError
from tests.credential_helpers import config_text, scitoken, write_private

CE_ENTRY = """\
  - name: SITE
    gridtype: condor
    gatekeeper: site@site.org 127.0.0.1:9619
    auth: {{method: idtoken, credential: {credential}}}
"""


def ce_config(tmp_path: Path, credential_type: str = "idtoken") -> str:
    return config_text(
        tmp_path,
        entries=CE_ENTRY.format(credential="site-ce"),
        credentials=(
            f"  - {{name: site-ce, type: {credential_type}, path: {tmp_path / 'ce.token'}}}\n"
        ),
    )


def test_an_idtoken_entry_names_an_idtoken_credential(tmp_path: Path) -> None:
    config = parse_config_text(ce_config(tmp_path)).config
    assert config.credential("site-ce").type == "idtoken"
    with pytest.raises(ConfigError, match=r"is of type scitoken, auth\.method is idtoken"):
        parse_config_text(ce_config(tmp_path, "scitoken"))


def test_the_ce_token_expiry_is_read(tmp_path: Path) -> None:
    config = parse_config_text(ce_config(tmp_path)).config
    exp = time.time() + 3600
    write_private(tmp_path / "ce.token", scitoken(exp))  # any JWT with exp
    assert read_credential(config.credential("site-ce")).expires == pytest.approx(exp, abs=1)
    write_private(tmp_path / "ce.token", scitoken(None))  # condor_token_create: no exp
    assert read_credential(config.credential("site-ce")).expires is None
    write_private(tmp_path / "ce.token", "not a token")
    with pytest.raises(CredentialError, match="not a JWT"):
        read_credential(config.credential("site-ce"))


def test_the_ce_token_is_not_in_the_submit_description(tmp_path: Path) -> None:
    config = parse_config_text(ce_config(tmp_path)).config
    pilot = PilotFiles("/p/glidein_startup.sh", "/p/g.tar.gz", "/p/attrs")
    glidein = GlideinFiles("g1", "/t/g1.idtoken", "/t/g1.logtoken")
    rendered = render_submit(
        config, config.entry("SITE"), "main", "b1", [glidein], pilot, "http://x/api/v1/logs", "/o"
    )
    commands = dict(rendered.commands)
    assert commands["+AglideinCredential"] == '"site-ce"'
    text = " ".join(f"{k} {v}" for k, v in rendered.commands)
    # the C-GAHP finds it in its token directory; the job carries no path to it
    assert "ce.token" not in text
    assert "scitokens_file" not in commands
