"""Frontend credentials and collector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from aglidein.gwms import import_gwms
from tests.gwms.helpers import GWMS, entry, factory, frontend, messages, run_import


def test_credentials_of_known_types_become_items(tmp_path: Path) -> None:
    credentials = """
      <credential absfname="/p/proxy" trust_domain="OSG" type="grid_proxy" security_class="fe"
                  creation_script="/usr/bin/renew-proxy --hours 24" update_frequency="7200"/>
      <credential absfname="/p/token" trust_domain="OSG" type="scitoken"/>
      <credential absfname="/p/id_rsa.pub" keyabsfname="/p/id_rsa" trust_domain="bosco" type="key_pair"/>
      <credential absfname="/p/pw" trust_domain="OSG" type="username_password"/>
      <credential generator="my_plugin" trust_domain="OSG" type="scitoken"/>
    """
    config, result = run_import(
        tmp_path, factory(entry("E")), frontend=frontend(credentials=credentials)
    )
    items = {c.name: c for c in config.credentials}
    assert sorted(items) == ["OSG_scitoken", "OSG_x509", "bosco_ssh"]
    proxy = items["OSG_x509"]
    assert (proxy.type, proxy.path) == ("x509", "/p/proxy")
    assert proxy.refresh_command == ["/usr/bin/renew-proxy", "--hours", "24"]
    assert proxy.min_lifetime == 7200
    assert items["bosco_ssh"].path == "/p/id_rsa"  # the private key, not the .pub
    assert items["OSG_scitoken"].refresh_command is None
    report = messages(result)
    assert "type 'username_password' has no aglidein equivalent" in report
    assert "generated credentials are not imported" in report


def test_two_credentials_that_fit_an_entry_are_reported_not_guessed(tmp_path: Path) -> None:
    credentials = (
        '<credential absfname="/a" trust_domain="grid" type="scitoken"/>'
        '<credential absfname="/b" trust_domain="grid" type="scitoken"/>'
    )
    config, result = run_import(
        tmp_path, factory(entry("E")), frontend=frontend(credentials=credentials)
    )
    assert [c.name for c in config.credentials] == ["grid_scitoken", "grid_scitoken_2"]
    assert config.entry("E").auth.credential is None  # type: ignore[union-attr]
    assert "choose one for auth.credential" in messages(result)


def test_the_first_primary_collector_is_the_pool(tmp_path: Path) -> None:
    text = frontend().replace(
        '<collector node="cm.example.org:9618" secondary="False"/>',
        '<collector node="cm2.org:9620-9630" secondary="True"/>'
        '<collector node="pool.example.org:9618" secondary="False"/>',
    )
    config, _ = run_import(tmp_path, factory(entry("E")), frontend=text)
    assert config.pool.collector == "pool.example.org:9618"
    assert config.pool.trust_domain == "pool.example.org"


def test_group_credentials_are_imported_and_reported(tmp_path: Path) -> None:
    group = """<group name="g1" enabled="True"><match match_expr="True"/>
      <security><credentials>
        <credential absfname="/g/token" trust_domain="grid" type="scitoken"/>
      </credentials></security></group>"""
    config, result = run_import(tmp_path, factory(entry("E")), frontend=frontend(groups=group))
    assert [c.path for c in config.credentials] == ["/g/token"]
    assert config.entry("E").auth.credential == "grid_scitoken"  # type: ignore[union-attr]
    assert "group g1: group credentials become factory-wide" in messages(result)


def test_relative_credential_paths_resolve_against_the_xml_directory(tmp_path: Path) -> None:
    credentials = """
      <credential absfname="creds/proxy" trust_domain="OSG" type="grid_proxy"/>
      <credential absfname="../keys/id_rsa.pub" keyabsfname="../keys/id_rsa"
                  trust_domain="bosco" type="key_pair"/>
    """
    config, result = run_import(
        tmp_path, factory(entry("E")), frontend=frontend(credentials=credentials)
    )
    paths = {c.name: c.path for c in config.credentials}
    assert paths == {
        "OSG_x509": str(tmp_path / "creds" / "proxy"),
        "bosco_ssh": str(tmp_path.parent / "keys" / "id_rsa"),
    }
    assert (
        f"note: credential creds/proxy: relative path 'creds/proxy' resolved against the "
        f"XML's directory: {tmp_path / 'creds' / 'proxy'}"
    ) in messages(result)


def test_fixture_credential_path_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want = str(GWMS / "fixtures" / "hostcert.pem")  # absfname="fixtures/hostcert.pem"
    paths = []
    for cwd in (GWMS, tmp_path):
        monkeypatch.chdir(cwd)
        xml = os.path.relpath(GWMS / "frontend.xml", cwd)
        result = import_gwms([os.path.relpath(GWMS / "Dev_Sites.xml", cwd)], xml)
        (credential,) = yaml.safe_load(result.text)["credentials"]
        paths.append(credential["path"])
    assert paths == [want, want]
