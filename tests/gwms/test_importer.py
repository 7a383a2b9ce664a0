"""The GlideinWMS fixtures (tests/fixtures/glideinwms) import into a complete config that
passes check-config, and every entry matches its XML field by field."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aglidein.config import Config, EntryConfig, parse_config_text
from aglidein.gwms import import_gwms
from tests.gwms.helpers import GWMS, entry, factory, run_import

FACTORY_FILES = [
    GWMS / n for n in ("glideinWMS.xml", "Dev_Sites.xml", "Dev_Sites2.xml", "Condor_Tarballs.xml")
]
FRONTEND = GWMS / "frontend.xml"


@pytest.fixture(scope="module")
def imported() -> tuple[Config, str]:
    result = import_gwms(FACTORY_FILES, FRONTEND)
    return parse_config_text(result.text, source="imported.yaml").config, result.text


def xml_entries() -> dict[str, tuple[ET.Element, dict[str, ET.Element]]]:
    """The oracle: entries by name (later files win) with the global attrs in force."""
    entries: dict[str, ET.Element] = {}
    global_attrs: dict[str, ET.Element] = {}
    for path in FACTORY_FILES:
        root = ET.parse(path).getroot()
        for node in root.findall("./attrs/attr"):
            global_attrs[node.get("name", "")] = node
        for node in root.findall("./entries/entry") + root.findall("./entry_sets/entry"):
            entries[node.get("name", "")] = node
    return {name: (node, dict(global_attrs)) for name, node in entries.items()}


def expected_attr(node: ET.Element) -> Any:
    value, kind = node.get("value", ""), node.get("type")
    if kind == "int":
        return int(value)
    if kind == "expr":
        return {"True": True, "False": False}.get(value, value)
    return value


def test_fixtures_import_and_pass_check_config(imported: tuple[Config, str]) -> None:
    config, text = imported
    assert sorted(e.name for e in config.entries) == sorted(xml_entries())
    assert [g.name for g in config.groups] == ["main"]
    assert config.pool.collector == "fermicloud312.fnal.gov:9618"
    assert config.factory.name == "gfactory_service"
    assert text.count("# PLACEHOLDER:") == 4  # state_dir, trust_domain, signing_key, factory_schedd


@pytest.mark.parametrize("name", sorted(xml_entries()))
def test_fixture_entries_match_their_xml_field_by_field(
    imported: tuple[Config, str], name: str
) -> None:
    config, _ = imported
    node, global_attrs = xml_entries()[name]
    got: EntryConfig = config.entry(name)

    want_attrs = {n.get("name"): expected_attr(n) for n in global_attrs.values()}
    want_attrs.update({n.get("name"): expected_attr(n) for n in node.findall("./attrs/attr")})
    assert got.attrs == want_attrs

    per_entry = node.find("./config/max_jobs/per_entry")
    per_frontend = node.find("./config/max_jobs/default_per_frontend")
    assert per_entry is not None
    assert per_frontend is not None
    for key, field in (("glideins", "max_glideins"), ("idle", "max_idle"), ("held", "max_held")):
        want = min(int(per_entry.get(key, "0")), int(per_frontend.get(key, "0")))
        assert getattr(got.limits, field) == want, field

    submit, release, remove = (node.find(f"./config/{t}") for t in ("submit", "release", "remove"))
    assert submit is not None
    assert release is not None
    assert remove is not None
    assert got.submit.cluster_size == int(submit.get("cluster_size", "0"))
    assert got.submit.max_per_cycle == int(submit.get("max_per_cycle", "0"))
    assert got.submit.release_per_cycle == int(release.get("max_per_cycle", "0"))
    assert got.submit.remove_per_cycle == int(remove.get("max_per_cycle", "0"))

    want_submit_attrs = {
        n.get("name"): int(v) if (v := n.get("value", "")).isdigit() else v
        for n in node.findall("./config/submit/submit_attrs/submit_attr")
    }
    assert got.submit_attrs == want_submit_attrs

    gridtype = node.get("gridtype", "")
    assert got.gwms["gridtype"] == gridtype
    for key in ("rsl", "work_dir", "trust_domain", "auth_method"):
        assert got.gwms.get(key) == node.get(key)
    supported = gridtype.split()[0] in ("condor", "batch", "arc")
    assert got.enabled == (node.get("enabled") == "True" and supported)
    assert got.gridtype == (gridtype.split()[0] if supported else "unsupported")
    assert got.gatekeeper == node.get("gatekeeper")


def test_fixture_group_matches_like_the_frontend(imported: tuple[Config, str]) -> None:
    config, _ = imported
    main = config.group("main")
    assert main.schedds == ["fermicloud312.fnal.gov"]
    assert "JobUniverse==5" in main.job_constraint
    assert "DESIRED_Sites=!=UNDEFINED" in main.job_constraint
    assert 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites, ",")' in main.match
    assert main.limits.max_idle_per_entry == 100
    assert main.limits.reserve_idle == 5
    assert main.limits.curb_idle_per_entry == 50
    assert (main.limits.max_idle, main.limits.curb_idle) == (1000, 200)
    assert (main.limits.max_running, main.limits.curb_running) == (100000, 90000)


def test_fixture_summary() -> None:
    result = import_gwms(FACTORY_FILES, FRONTEND)
    summary = result.summary
    assert (summary.entries, summary.enabled, summary.groups, summary.credentials) == (6, 3, 1, 1)
    # TEST_ENTRY (gt2) and the gce entry are disabled in GlideinWMS: counted there, not
    # again as unsupported; the 2 + 1 add up to the 3 disabled
    assert summary.disabled_by_import == {"unsupported gridtype": 1}
    assert summary.disabled_in_gwms == 2
    assert summary.config_warnings == len(result.config_warnings) == 3  # entries without credential
    assert (
        "imported 6 entries: 3 enabled, 3 disabled (2 already disabled in GlideinWMS; "
        "1 disabled by the import: 1 unsupported gridtype)" in summary.format()
    )
    assert "imported 1 group, 1 credential" in summary.format()


def test_fixture_summary_counts_what_the_yaml_holds() -> None:
    """Every number of the summary, recounted from the YAML and the report lines."""
    result = import_gwms(FACTORY_FILES, FRONTEND)
    data = yaml.safe_load(result.text)
    summary = result.summary
    entries = data["entries"]
    assert summary.entries == len(entries)
    assert summary.enabled == sum(e["enabled"] for e in entries)
    disabled = summary.entries - summary.enabled
    assert summary.disabled_in_gwms + sum(summary.disabled_by_import.values()) == disabled
    assert summary.disabled_in_gwms == result.text.count("  # disabled in GlideinWMS\n")
    assert sum(summary.disabled_by_import.values()) == result.text.count("# DISABLED by the import")
    assert summary.groups == len(data["groups"])
    assert summary.credentials == len(data["credentials"])
    lines = result.report.lines()
    assert summary.warnings == sum(": warning: " in line for line in lines)
    assert summary.notes == sum(": note: " in line for line in lines)
    text = summary.format()
    assert f"{summary.warnings} warnings, {summary.notes} notes" in text


def test_same_input_gives_byte_identical_output(tmp_path: Path) -> None:
    first = import_gwms(FACTORY_FILES, FRONTEND).text
    second = import_gwms(FACTORY_FILES, FRONTEND).text
    assert first == second
    # entries are sorted by name whatever their order in the XML
    config, _ = run_import(tmp_path, factory(entry("Zeta"), entry("alpha"), entry("Mid")))
    assert [e.name for e in config.entries] == ["Mid", "Zeta", "alpha"]


def test_factory_only_import_is_complete_with_placeholders(tmp_path: Path) -> None:
    config, result = run_import(tmp_path, factory(entry("E")))
    assert config.groups == []
    assert config.pool.collector == "cm.example.org:9618"
    assert "PLACEHOLDER: the collector of the pool glideins join" in result.text
    assert any("no groups" in w for w in result.config_warnings)


def test_report_lines_name_file_and_entry() -> None:
    result = import_gwms(FACTORY_FILES, FRONTEND)
    for line in result.report.lines():
        where, _, rest = line.partition(": ")
        path, _, lineno = where.rpartition(":")
        assert Path(path).name.endswith(".xml"), line
        assert lineno.isdigit(), line
        assert rest.startswith(("warning: ", "note: ")), line
    gt2 = [line for line in result.report.lines() if "gridtype 'gt2'" in line]
    assert gt2 == [
        f"{GWMS / 'glideinWMS.xml'}:30: warning: entry TEST_ENTRY: imported disabled: "
        "gridtype 'gt2' is not supported by aglidein"
    ]


xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff"),
    max_size=30,
).filter(lambda s: all(c in "\t\n\r" or ord(c) >= 0x20 for c in s))


@settings(max_examples=40, deadline=None)
@given(
    values=st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True), xml_text, max_size=5
    ),
    gatekeeper=xml_text.filter(lambda s: s.strip() != ""),
)
def test_any_xml_text_survives_the_trip_to_yaml(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, str], gatekeeper: str
) -> None:
    attrs = "".join(
        f"<attr name={quoteattr(k)} type='string' value={quoteattr(v)}/>" for k, v in values.items()
    )
    text = (
        f"<glidein><entries><entry name='E' gridtype='gt2' gatekeeper={quoteattr(gatekeeper)}>"
        f"<attrs>{attrs}</attrs></entry></entries></glidein>"
    )
    oracle = ET.fromstring(text).find("./entries/entry")
    assert oracle is not None
    config, _ = run_import(tmp_path_factory.mktemp("trip"), text)
    got = config.entry("E")
    assert got.attrs == {n.get("name"): n.get("value") for n in oracle.findall("./attrs/attr")}
    assert got.gatekeeper == (oracle.get("gatekeeper") or "").strip()
