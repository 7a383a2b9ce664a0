"""An imported start_expr reaches the glidein startd's START through the real pilot."""

from __future__ import annotations

from pathlib import Path

from aglidein.core.submit import render_attrs_file
from tests.glidein.test_condor_config import evaluate, parse_config, render_config
from tests.gwms.helpers import attr, entry, factory, frontend, run_import
from tests.gwms.test_groups import group


def test_imported_start_expr_is_anded_into_the_startd_start(tmp_path: Path) -> None:
    entries = factory(entry("A", attrs=attr("GLIDEIN_Site", "SiteA")))
    config, _ = run_import(
        tmp_path, entries, frontend=frontend(group(config=">", start_expr="Memory &gt; 2000"))
    )
    attrs: dict[str, str] = {}
    for line in render_attrs_file(config.entry("A"), config.group("main")).splitlines():
        name, _, quoted = line.partition("=")
        attrs[name] = quoted[1:-1].replace("'\\''", "'")
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    values = parse_config(render_config(pilot, attrs))
    assert "Memory > 2000" in values["START"]
    assert evaluate(values, "START", Memory=4000) is True
    assert evaluate(values, "START", Memory=1000) is False


def test_entry_and_group_start_exprs_are_both_in_start(tmp_path: Path) -> None:
    groups = group("one", config=">", start_expr="Memory &gt; 2000") + group("two", config=">")
    text = frontend(groups).replace(
        '<match match_expr="True" start_expr="True">',
        '<match match_expr="True" start_expr="Cpus &gt;= 2">',
    )
    entries = factory(entry("A", attrs=attr("GLIDEIN_Site", "SiteA")))
    config, _ = run_import(tmp_path, entries, frontend=text)
    for name, cases in (
        ("one", {(4000, 4): True, (1000, 4): False, (4000, 1): False}),
        ("two", {(1000, 4): True, (1000, 1): False}),
    ):
        attrs: dict[str, str] = {}
        for line in render_attrs_file(config.entry("A"), config.group(name)).splitlines():
            key, _, quoted = line.partition("=")
            attrs[key] = quoted[1:-1].replace("'\\''", "'")
        pilot = tmp_path / f"pilot-{name}"
        pilot.mkdir()
        values = parse_config(render_config(pilot, attrs))
        for (memory, cpus), want in cases.items():
            assert evaluate(values, "START", Memory=memory, Cpus=cpus) is want, (name, memory)
