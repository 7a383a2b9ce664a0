"""Frontend groups → aglidein groups: constraint, match, limits."""

from __future__ import annotations

from pathlib import Path

from aglidein.classad.facade import is_true, parse_expr
from tests.gwms.helpers import attr, entry, factory, frontend, messages, run_import

SITES = 'glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")'


def group(
    name: str = "main",
    match_expr: str = SITES,
    factory_query: str = "(GLIDEIN_Site=!=UNDEFINED)",
    job_query: str = "(DESIRED_Sites=!=UNDEFINED)",
    config: str = "",
    enabled: str = "True",
    schedds: str = "",
    start_expr: str = "True",
) -> str:
    """One frontend `<group>`."""
    return f"""<group name="{name}" enabled="{enabled}">
      <config {config}</config>
      <match match_expr='{match_expr}' start_expr="{start_expr}">
         <factory query_expr="{factory_query}">
            <match_attrs><match_attr name="GLIDEIN_Site" type="string"/></match_attrs>
         </factory>
         <job query_expr="{job_query}">
            <match_attrs><match_attr name="DESIRED_Sites" type="string"/></match_attrs>
            <schedds>{schedds}</schedds>
         </job>
      </match>
    </group>"""


ENTRIES = factory(
    entry("A", attrs=attr("GLIDEIN_Site", "SiteA") + attr("GLIDEIN_CPUS", "8", "int")),
    entry("B", attrs=attr("GLIDEIN_Site", "SiteB")),
)


def test_group_constraint_match_and_schedds(tmp_path: Path) -> None:
    schedds = '<schedd fullname="schedd2.example.org"/><schedd fullname="schedd1.example.org"/>'
    config, _ = run_import(tmp_path, ENTRIES, frontend=frontend(group(config=">", schedds=schedds)))
    main = config.group("main")
    assert main.schedds == ["schedd1.example.org", "schedd2.example.org"]
    assert main.job_constraint == "((JobUniverse==5)) && ((DESIRED_Sites=!=UNDEFINED))"
    match = parse_expr(main.match)
    job = {"DESIRED_Sites": "SiteB,SiteC"}
    assert not is_true(match.evaluate(job, config.entry("A").attrs))
    assert is_true(match.evaluate(job, config.entry("B").attrs))


def test_group_limits_and_curbs(tmp_path: Path) -> None:
    limits = (
        'ramp_up_attenuation="2.5">'
        '<idle_glideins_per_entry max="60" reserve="3"/><idle_vms_per_entry curb="9" max="100"/>'
        '<idle_vms_total curb="150" max="900"/><running_glideins_total curb="800" max="1000"/>'
        '<running_glideins_per_entry max="50000" min="0" relative_to_queue="1.15"/>'
    )
    config, result = run_import(tmp_path, ENTRIES, frontend=frontend(group(config=limits)))
    assert config.group("main").limits.model_dump() == {
        "max_running": 1000,
        "max_idle": 900,
        "max_idle_per_entry": 60,
        "max_held": 1000,  # no GlideinWMS equivalent: the aglidein default
        "curb_idle": 150,
        "curb_idle_per_entry": 9,
        "curb_running": 800,
        "ramp_up_attenuation": 2.5,
        "reserve_idle": 3,
    }
    assert "running_glideins_per_entry max='50000'" not in messages(result)  # imported
    # the GlideinWMS cap of 50000 is above the entries' own max_glideins: nothing cut
    assert config.entry("A").limits.max_glideins == 5_000


def test_running_glideins_per_entry_caps_every_entry(tmp_path: Path) -> None:
    limits = '><running_glideins_per_entry max="40"/>'
    config, result = run_import(tmp_path, ENTRIES, frontend=frontend(group(config=limits)))
    assert [e.limits.max_glideins for e in config.entries] == [40, 40]
    assert "entry A: limits.max_glideins 5000 -> 40" in messages(result)
    assert "# max_glideins: the frontend's running_glideins_per_entry max" in result.text


def test_running_glideins_per_entry_is_summed_over_groups(tmp_path: Path) -> None:
    groups = group("one", config='><running_glideins_per_entry max="40"/>') + group(
        "two", config='><running_glideins_per_entry max="25"/>'
    )
    config, _ = run_import(tmp_path, ENTRIES, frontend=frontend(groups))
    assert config.entry("B").limits.max_glideins == 65


def test_every_dropped_group_setting_is_reported_defaults_included(tmp_path: Path) -> None:
    settings = (
        '><glideins_removal margin="0" requests_tracking="False" type="ALL" wait="0"/>'
        '<idle_vms_per_entry curb="9" max="100"/>'
    )
    _, result = run_import(tmp_path, ENTRIES, frontend=frontend(group(config=settings)))
    lines = result.report.lines()
    # changed from the GlideinWMS default: a warning the operator must read
    assert any(
        ": warning: group main: <glideins_removal type='ALL'> not imported" in line
        for line in lines
    )
    # at the default, or absent (the GlideinWMS default still applied there): a note each
    for setting in (
        "<glideins_removal margin='0'> (the GlideinWMS default)",
        "<idle_vms_per_entry max='100'> (the GlideinWMS default)",
        "GlideinWMS default <idle_glideins_lifetime max='0'> (absent here)",
        "GlideinWMS default <running_glideins_per_entry relative_to_queue='1.15'> (absent here)",
    ):
        assert any(": note: group main: " + setting in line for line in lines), setting


def test_untranslatable_match_asks_for_nothing_and_keeps_the_original(tmp_path: Path) -> None:
    expr = 'glidein["attrs"].get("GLIDEIN_Site") in job["DESIRED_Sites"]'
    config, result = run_import(
        tmp_path, ENTRIES, frontend=frontend(group(config=">", match_expr=expr))
    )
    assert config.group("main").match == "false"
    assert "# UNTRANSLATED: this group matches nothing until you write `match`." in result.text
    assert f"# GlideinWMS match_expr: {expr}" in result.text
    assert "group main: not translated, match set to false" in messages(result)


def test_factory_query_on_attributes_entries_lack_is_not_guessed(tmp_path: Path) -> None:
    query = "(GLIDEIN_GridType=?=&quot;condor&quot;)"
    config, result = run_import(
        tmp_path, ENTRIES, frontend=frontend(group(config=">", factory_query=query))
    )
    assert config.group("main").match == "false"
    assert "GLIDEIN_GridType, which no enabled entry has in attrs" in messages(result)


def test_disabled_groups_are_reported_not_imported(tmp_path: Path) -> None:
    groups = group("on", config=">") + group("off", config=">", enabled="False")
    config, result = run_import(tmp_path, ENTRIES, frontend=frontend(groups))
    assert [g.name for g in config.groups] == ["on"]
    assert "group off: disabled in GlideinWMS: not imported" in messages(result)


def test_group_start_expr_goes_to_the_group(tmp_path: Path) -> None:
    start = "(Memory &gt; 2000) &amp;&amp;\n  TARGET.RequestCpus &lt;= 4"
    config, _ = run_import(
        tmp_path, ENTRIES, frontend=frontend(group(config=">", start_expr=start))
    )
    assert config.group("main").start_expr == "(Memory > 2000) && TARGET.RequestCpus <= 4"
    assert [e.start_expr for e in config.entries] == [None, None]
    assert "GLIDEIN_CONDOR_CONFIG_EXTRA" not in config.entry("A").attrs


def test_frontend_start_expr_goes_to_every_entry_and_group_ones_to_each_group(
    tmp_path: Path,
) -> None:
    groups = group("one", config=">", start_expr="Memory &gt; 1") + group("two", config=">")
    text = frontend(groups).replace(
        '<match match_expr="True" start_expr="True">',
        '<match match_expr="True" start_expr="Cpus &gt; 0">',
    )
    config, result = run_import(tmp_path, ENTRIES, frontend=text)
    assert [e.start_expr for e in config.entries] == ["Cpus > 0", "Cpus > 0"]
    assert (config.group("one").start_expr, config.group("two").start_expr) == ("Memory > 1", None)
    assert config.entry("A").start_expr_for(config.group("one")) == "(Cpus > 0) && (Memory > 1)"
    assert "start_expr imported as entries' start_expr: 'Cpus > 0'" in messages(result)


def test_start_expr_that_is_not_a_classad_is_reported(tmp_path: Path) -> None:
    config, result = run_import(
        tmp_path, ENTRIES, frontend=frontend(group(config=">", start_expr="(Memory &gt;"))
    )
    assert config.group("main").start_expr is None
    assert "start_expr '(Memory >' is not a ClassAd expression: not imported" in messages(result)


def test_no_schedds_anywhere_falls_back_to_the_collector(tmp_path: Path) -> None:
    text = frontend(group(config=">")).replace('<schedd fullname="schedd1.example.org"/>', "")
    config, result = run_import(tmp_path, ENTRIES, frontend=text)
    assert config.group("main").schedds == ["collector"]
    assert "PLACEHOLDER: no <schedd> in the frontend" in result.text


def test_match_expr_on_attributes_entries_lack_is_not_guessed(tmp_path: Path) -> None:
    expr = 'glidein["attrs"]["GLIDEIN_GridType"] == "condor"'
    frontend_xml = frontend(group(config=">", match_expr=expr)).replace(
        '<match_attr name="GLIDEIN_Site" type="string"/>',
        '<match_attr name="GLIDEIN_Site" type="string"/>'
        '<match_attr name="GLIDEIN_GridType" type="string"/>',
    )
    config, result = run_import(tmp_path, ENTRIES, frontend=frontend_xml)
    assert config.group("main").match == "false"
    assert "GLIDEIN_GridType, which no enabled entry has in attrs" in messages(result)
