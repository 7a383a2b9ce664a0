"""Factory entries → aglidein entries: gridtypes, auth, attrs, limits, submit, gwms."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gwms.helpers import attr, entry, factory, frontend, messages, run_import


@pytest.mark.parametrize(
    ("gridtype", "gatekeeper", "expected"),
    [
        ("condor", "ce.org ce.org:9619", ("condor", "ce.org ce.org:9619", None)),
        ("batch slurm", "user@login.org", ("batch", "user@login.org", "slurm")),
        ("batch PBS", "user@login.org", ("batch", "user@login.org", "pbs")),
        ("arc", "https://arc.org:443/arex", ("arc", "https://arc.org:443/arex", None)),
    ],
)
def test_supported_gridtypes(
    tmp_path: Path, gridtype: str, gatekeeper: str, expected: tuple
) -> None:
    config, _ = run_import(tmp_path, factory(entry("E", gridtype=gridtype, gatekeeper=gatekeeper)))
    imported = config.entry("E")
    assert (imported.gridtype, imported.gatekeeper, imported.batch_system) == expected
    assert imported.enabled
    assert imported.gwms["gridtype"] == gridtype


@pytest.mark.parametrize(
    "gridtype", ["gt2", "gt5", "cream", "nordugrid", "ec2", "gce", "batch htc"]
)
def test_unsupported_gridtypes_are_kept_disabled_with_the_reason(
    tmp_path: Path, gridtype: str
) -> None:
    config, result = run_import(
        tmp_path, factory(entry("Old", gridtype=gridtype, gatekeeper="gk.org/jm"))
    )
    imported = config.entry("Old")
    assert (imported.gridtype, imported.enabled, imported.gatekeeper) == (
        "unsupported",
        False,
        "gk.org/jm",
    )
    assert imported.gwms["gridtype"] == gridtype
    assert f"DISABLED by the import: gridtype '{gridtype}' is not supported" in result.text
    assert f"f0.xml:3: warning: entry Old: imported disabled: gridtype '{gridtype}'" in messages(
        result
    )
    assert result.summary.disabled_by_import == {"unsupported gridtype": 1}


def test_batch_gatekeeper_without_user_is_disabled(tmp_path: Path) -> None:
    config, result = run_import(
        tmp_path,
        factory(entry("B", gridtype="batch slurm", gatekeeper="login.org", auth_method="key_pair")),
    )
    assert (config.entry("B").gridtype, config.entry("B").enabled) == ("unsupported", False)
    assert "is not user@host" in messages(result)


def test_entries_keep_enabled_without_a_credential(tmp_path: Path) -> None:
    config, result = run_import(tmp_path, factory(entry("On"), entry("Off", enabled="False")))
    assert config.entry("On").enabled
    assert config.entry("On").auth is not None
    assert config.entry("On").auth.credential is None
    assert not config.entry("Off").enabled
    assert any("'On' has no credential" in w for w in result.config_warnings)
    assert result.summary.disabled_in_gwms == 1


@pytest.mark.parametrize(
    ("auth_method", "gridtype", "gatekeeper", "method"),
    [
        ("scitoken", "condor", "ce ce:9619", "scitoken"),
        ("grid_proxy", "condor", "ce ce:9619", "x509"),
        ("key_pair", "batch slurm", "u@h", "ssh"),
        ("scitoken;project_id", "condor", "ce ce:9619", "scitoken"),
        ("grid_proxy+project_id", "arc", "https://arc", "x509"),
        (None, "condor", "ce ce:9619", "x509"),  # the GlideinWMS default is grid_proxy
    ],
)
def test_auth_methods(
    tmp_path: Path, auth_method: str | None, gridtype: str, gatekeeper: str, method: str
) -> None:
    config, result = run_import(
        tmp_path,
        factory(entry("E", auth_method=auth_method, gridtype=gridtype, gatekeeper=gatekeeper)),
    )
    imported = config.entry("E")
    assert imported.auth is not None
    assert imported.auth.method == method
    assert imported.enabled  # a compound method is reported, never a reason to disable
    if auth_method and ("+" in auth_method or ";" in auth_method):
        assert imported.gwms["auth_method"] == auth_method
        assert f"compound auth_method '{auth_method}'" in messages(result)


def test_auth_method_without_equivalent_disables_the_entry(tmp_path: Path) -> None:
    config, result = run_import(tmp_path, factory(entry("E", auth_method="cert_pair")))
    assert not config.entry("E").enabled
    assert config.entry("E").gwms["auth_method"] == "cert_pair"
    assert result.summary.disabled_by_import == {"unmapped auth_method": 1}


def test_attr_types_and_global_attrs(tmp_path: Path) -> None:
    globals_ = f"<attrs>{attr('USE_CCB', 'True')}{attr('GLIDEIN_CPUS', '1', 'int')}</attrs>"
    attrs = (
        attr("GLIDEIN_CPUS", "8", "int")
        + attr("GLIDEIN_Site", "S")
        + attr("HAS_CVMFS", "True", "expr")
        + attr("RATE", "2.5", "expr")
        + attr("DYN", "ifThenElse(Foo, 1, 2)", "expr")
        + attr("BAD_INT", "eight", "int")
    )
    text = f"<glidein>{globals_}<entries>{entry('E', attrs=attrs)}</entries></glidein>"
    config, result = run_import(tmp_path, text)
    imported = config.entry("E")
    assert imported.attrs == {
        "USE_CCB": "True",  # type string stays a string
        "GLIDEIN_CPUS": 8,  # the entry overrides the global attr
        "GLIDEIN_Site": "S",
        "HAS_CVMFS": True,  # a constant expression becomes its value
        "RATE": 2.5,
        "BAD_INT": "eight",
    }
    assert imported.gwms["expr_attrs"] == {"DYN": "ifThenElse(Foo, 1, 2)"}
    assert "attr DYN is the expression" in messages(result)
    assert "attr BAD_INT type int has value 'eight'" in messages(result)


@pytest.mark.parametrize(
    ("max_jobs", "expected"),
    [
        (
            '<per_entry glideins="10000" held="1000" idle="2000"/>'
            '<default_per_frontend glideins="5000" held="50" idle="100"/>',
            (5000, 100, 50),
        ),
        (
            '<per_entry glideins="30" held="7" idle="3"/>'
            '<default_per_frontend glideins="5000" held="50" idle="100"/>',
            (30, 3, 7),
        ),
        ('<per_entry glideins="300"/>', (300, 100, 50)),  # the rest: GlideinWMS defaults
        ("", (5000, 100, 50)),
    ],
)
def test_limits_are_the_smaller_of_per_entry_and_default_per_frontend(
    tmp_path: Path, max_jobs: str, expected: tuple[int, int, int]
) -> None:
    config, _ = run_import(tmp_path, factory(entry("E", config=f"<max_jobs>{max_jobs}</max_jobs>")))
    limits = config.entry("E").limits
    assert (limits.max_glideins, limits.max_idle, limits.max_held) == expected


def test_submit_release_remove_and_submit_attrs(tmp_path: Path) -> None:
    config_xml = (
        '<release max_per_cycle="7" sleep="0.2"/><remove max_per_cycle="3" sleep="0.2"/>'
        '<submit cluster_size="4" max_per_cycle="40" slots_layout="partitionable"><submit_attrs>'
        '<submit_attr name="+maxMemory" value="16000"/>'
        '<submit_attr name="+queue" value="&quot;short&quot;"/>'
        '<submit_attr name="+tag" value="$ENV(FRONTEND)"/>'
        "</submit_attrs></submit>"
    )
    config, result = run_import(tmp_path, factory(entry("E", config=config_xml)))
    imported = config.entry("E")
    assert imported.submit.model_dump() == {
        "cluster_size": 4,
        "max_per_cycle": 40,
        "release_per_cycle": 7,
        "remove_per_cycle": 3,
    }
    assert imported.submit_attrs == {
        "+maxMemory": 16000,
        "+queue": '"short"',
        "+tag": "$ENV(FRONTEND)",
    }
    assert imported.gwms["slots_layout"] == "partitionable"
    assert "$ENV(FRONTEND)" in messages(result)


def test_unmapped_information_goes_to_the_gwms_map(tmp_path: Path) -> None:
    extra = 'rsl="(queue=q)" proxy_url="http://squid:3128" verbosity="std"'
    config, _ = run_import(
        tmp_path, factory(entry("E", extra=extra, auth_method="scitoken;project_id"))
    )
    assert config.entry("E").gwms == {
        "auth_method": "scitoken;project_id",
        "gridtype": "condor",
        "proxy_url": "http://squid:3128",
        "rsl": "(queue=q)",
        "trust_domain": "grid",
        "verbosity": "std",
        "work_dir": "OSG",
    }


def test_walltime_and_retire_attrs_set_the_glidein_durations(tmp_path: Path) -> None:
    attrs = attr("GLIDEIN_Max_Walltime", "86400", "int") + attr(
        "GLIDEIN_Retire_Time", "21600", "int"
    )
    config, _ = run_import(tmp_path, factory(entry("E", attrs=attrs)))
    glidein = config.entry("E").glidein
    assert (glidein.max_walltime, glidein.retire_after) == (86400, 21600)


def test_invalid_names_are_renamed_and_reported(tmp_path: Path) -> None:
    config, result = run_import(tmp_path, factory(entry("bad name!"), entry("bad_name_")))
    names = sorted(e.name for e in config.entries)
    assert names == ["bad_name_", "bad_name__2"]
    assert "renamed" in messages(result)


def test_entry_set_members_take_the_set_config_and_attrs(tmp_path: Path) -> None:
    text = f"""<glidein><entry_sets><entry_set alias_prefix="SET">
      <config><max_jobs><per_entry glideins="20" idle="5" held="2"/></max_jobs></config>
      <attrs>{attr("GLIDEIN_Site", "SetSite")}</attrs>
      <entries><entry name="M1" gatekeeper="a a:9619" gridtype="condor" auth_method="scitoken"/></entries>
    </entry_set></entry_sets></glidein>"""
    config, _ = run_import(tmp_path, text)
    member = config.entry("M1")
    assert member.attrs == {"GLIDEIN_Site": "SetSite"}
    assert (member.limits.max_glideins, member.limits.max_idle, member.limits.max_held) == (
        20,
        5,
        2,
    )
    assert member.gwms["entry_set"] == "SET"


def test_credential_of_the_same_trust_domain_and_type_is_used(tmp_path: Path) -> None:
    credentials = (
        '<credential absfname="/c/token" trust_domain="grid" type="scitoken"/>'
        '<credential absfname="/c/proxy" trust_domain="grid" type="grid_proxy"/>'
        '<credential absfname="/c/other" trust_domain="OSG" type="scitoken"/>'
    )
    config, _ = run_import(
        tmp_path,
        factory(
            entry("Tok"), entry("Prx", auth_method="grid_proxy"), entry("Far", trust_domain="x")
        ),
        frontend=frontend(credentials=credentials),
    )
    assert config.entry("Tok").auth.credential == "grid_scitoken"  # type: ignore[union-attr]
    assert config.entry("Prx").auth.credential == "grid_x509"  # type: ignore[union-attr]
    assert config.entry("Far").auth.credential is None  # type: ignore[union-attr]
    assert config.credential("grid_scitoken").path == "/c/token"


def test_a_name_with_a_newline_is_renamed(tmp_path: Path) -> None:
    config, _ = run_import(tmp_path, factory(entry("Si&#10;te"), entry("Trail&#10;")))
    assert [e.name for e in config.entries] == ["Si_te", "Trail"]  # around a name: stripped
    assert config.entry("Si_te").gwms["name"] == "Si\nte"
