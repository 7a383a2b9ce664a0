"""Every GlideinWMS setting the import drops is reported, with its file and line."""

from __future__ import annotations

from pathlib import Path

from aglidein.gwms import import_gwms
from tests.gwms.helpers import GWMS, entry, factory, frontend, messages, run_import

FIXTURES = [GWMS / n for n in ("glideinWMS.xml", "Dev_Sites.xml", "Dev_Sites2.xml")]


def test_entry_settings_kept_only_in_gwms_are_reported(tmp_path: Path) -> None:
    extra = 'rsl="(queue=q)" proxy_url="http://squid:3128" schedd_name="s2@f.org"'
    config_xml = '<submit cluster_size="4" slots_layout="partitionable"/>'
    _, result = run_import(tmp_path, factory(entry("E", extra=extra, config=config_xml)))
    text = messages(result)
    assert "f0.xml:3: warning: entry E: proxy_url='http://squid:3128' not imported" in text
    assert "f0.xml:4: warning: entry E: slots_layout='partitionable' not imported" in text
    assert "note: entry E: schedd_name='s2@f.org' not imported" in text
    assert "note: entry E: kept in gwms only, not acted on: rsl='(queue=q)', work_dir='OSG'" in text


def test_several_factory_schedds_are_reported(tmp_path: Path) -> None:
    root = 'schedd_name="a.org,schedd_glideins2@a.org"'
    _, result = run_import(tmp_path, factory(entry("E"), root=root))
    assert (
        "f0.xml:1: warning: factory: GlideinWMS spread glideins over 2 factory schedds "
        "(a.org, schedd_glideins2@a.org): not imported; list aglidein's own in pool.factory_schedds"
    ) in messages(result)


def test_one_factory_schedd_is_not_a_warning(tmp_path: Path) -> None:
    _, result = run_import(tmp_path, factory(entry("E"), root='schedd_name="a.org"'))
    assert "factory schedds" not in messages(result)


def test_secondary_collectors_and_ccbs_are_reported(tmp_path: Path) -> None:
    text = frontend().replace(
        "</collectors>",
        '<collector node="cm.example.org:9620-9630" secondary="True"/></collectors>'
        '<ccbs><ccb node="ccb.example.org:9618"/></ccbs>',
    )
    _, result = run_import(tmp_path, factory(entry("E")), frontend=text)
    lines = messages(result)
    assert (
        "frontend.xml:10: warning: frontend: secondary collector cm.example.org:9620-9630 "
        "not imported: glideins report to pool.collector only"
    ) in lines
    assert "warning: frontend: CCB ccb.example.org:9618 not imported" in lines


def test_fixtures_report_every_dropped_knob_of_the_brief() -> None:
    result = import_gwms(FIXTURES, GWMS / "frontend.xml")
    text = messages(result)
    for expected in (
        "frontend.xml:53: note: group main: <glideins_removal type='NO'> (the GlideinWMS default)",
        "frontend.xml:56: note: group main: <idle_vms_per_entry max='100'> (the GlideinWMS "
        "default)",
        "frontend.xml:92: warning: frontend: secondary collector fermicloud312.fnal.gov:9620-9630",
        "Dev_Sites.xml:81: warning: entry TEST_SITE_BOSCO: slots_layout='partitionable'",
        "Dev_Sites.xml:70: warning: entry TEST_SITE_BOSCO: proxy_url="
        "'http://frontiercache.nersc.gov:3128'",
        "glideinWMS.xml:1: warning: factory: GlideinWMS spread glideins over 5 factory schedds",
        "glideinWMS.xml:11: note: factory: <monitor ",
        "frontend.xml:42: note: frontend: <work ",
    ):
        assert expected in text, expected


def test_entry_config_settings_without_a_key_are_reported(tmp_path: Path) -> None:
    config_xml = (
        '<submit cluster_size="4" sleep="0.5"/><release max_per_cycle="7" sleep="0.2"/>'
        '<remove max_per_cycle="3"/><other knob="1"/>'
    )
    _, result = run_import(tmp_path, factory(entry("E", config=config_xml)))
    assert (
        "f0.xml:4: note: entry E: config not imported (no aglidein key): "
        "<submit sleep='0.5'>, <release sleep='0.2'>, <other knob='1'>"
    ) in messages(result)


def test_frontend_security_and_group_factory_collectors_are_reported(tmp_path: Path) -> None:
    group = (
        '<group name="g" enabled="True"><config></config><match match_expr="True">'
        '<factory query_expr="True"><collectors><collector node="f2.org"/></collectors>'
        '</factory><job query_expr="True"/></match></group>'
    )
    text = frontend(groups=group).replace(
        "<security>", '<security proxy_selection_plugin="ProxyAll" security_name="fe">'
    )
    _, result = run_import(tmp_path, factory(entry("E")), frontend=text)
    lines = messages(result)
    assert "note: group g: factory collector f2.org not imported" in lines
    assert (
        "note: frontend: <security proxy_selection_plugin=ProxyAll security_name=fe> not imported"
    ) in lines
