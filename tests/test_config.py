"""Config: every kind of bad input is one located line and exit 1, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aglidein.cli import main
from aglidein.config import load_config, parse_config_text
from aglidein.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

BASE = """\
factory:
  name: f1
  state_dir: /tmp/aglidein-test
pool:
  collector: cm.example.org:9618
  trust_domain: cm.example.org
  signing_key: /etc/condor/passwords.d/POOL
groups:
  - name: main
    schedds: [schedd1.example.org]
    match: 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)'
entries:
  - name: CE1
    gridtype: condor
    gatekeeper: ce1.example.org ce1.example.org:9619
    auth: {method: scitoken, credential: osg}
    attrs: {GLIDEIN_Site: SITE1, GLIDEIN_CPUS: 8}
credentials:
  - name: osg
    type: scitoken
    path: /var/lib/aglidein/osg.token
"""


def test_example_config_is_valid_and_documented() -> None:
    loaded = load_config(REPO / "conf" / "aglidein.example.yaml")
    assert loaded.config.factory.name == "osg-factory-1"
    assert loaded.warnings == ()
    text = (REPO / "conf" / "aglidein.example.yaml").read_text()
    # every top-level section and every factory key is shown
    for key in ("factory:", "pool:", "http:", "logs:", "groups:", "entries:", "credentials:"):
        assert key in text
    for key in type(loaded.config.factory).model_fields:
        assert f"{key}:" in text, key


def test_defaults_fill_partial_maps() -> None:
    text = BASE.replace(
        "    schedds: [schedd1.example.org]", "    schedds: [s]\n    limits: {max_idle: 10}"
    )
    config = parse_config_text(text).config
    group = config.groups[0]
    assert group.limits.max_idle == 10
    assert group.limits.max_idle_per_entry == 100
    assert group.limits.ramp_up_attenuation == 3
    assert group.job_constraint == "true"
    assert config.factory.cycle == 60
    assert config.factory.backoff.max == 3 * 3600
    assert config.logs.max_bytes == 50 * 1024**3
    assert config.pool.identity == "glidein@cm.example.org"
    assert config.http.base_url() == "http://127.0.0.1:8080"


def test_entry_overrides_merge_with_factory_defaults() -> None:
    text = BASE.replace(
        "    attrs: {GLIDEIN_Site: SITE1, GLIDEIN_CPUS: 8}",
        "    attrs: {GLIDEIN_Site: SITE1, GLIDEIN_CPUS: 8}\n"
        "    submit: {cluster_size: 3}\n    glidein: {max_walltime: 12h}",
    )
    config = parse_config_text(text).config
    entry = config.entries[0]
    assert entry.effective_submit(config.factory).cluster_size == 3
    assert entry.effective_submit(config.factory).max_per_cycle == 100
    assert entry.effective_glidein(config.factory).max_walltime == 12 * 3600
    assert entry.effective_glidein(config.factory).retire_after == 6 * 3600


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, source="conf.yaml")
    return info.value.problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("  name: f1\n", "  name: f1\n  colour: blue\n"),
            "conf.yaml:3: factory.colour: unknown key",
        ),
        (
            ("  state_dir: /tmp/aglidein-test\n", "  state_dir: /tmp/x\n  stale_cycles: many\n"),
            "conf.yaml:4: factory.stale_cycles: input should be a valid integer",
        ),
        (
            ("  state_dir: /tmp/aglidein-test\n", "  state_dir: /tmp/x\n  cycle: 5 minutes\n"),
            "conf.yaml:4: factory.cycle: bad duration",
        ),
        (
            ("MY.DESIRED_Sites)'", "MY.DESIRED_Sites'"),
            "conf.yaml:11: groups[0].match: not a valid ClassAd expression",
        ),
        (
            ("credential: osg}", "credential: nope}"),
            "conf.yaml:16: entries[0].auth.credential: unknown credential 'nope'",
        ),
        (
            (
                "    attrs: {GLIDEIN_Site: SITE1, GLIDEIN_CPUS: 8}\n",
                "    attrs: {}\n    limits: {max_idle: -1}\n",
            ),
            "conf.yaml:18: entries[0].limits.max_idle: must be >= 0",
        ),
        (
            ("  collector: cm.example.org:9618\n", ""),
            "conf.yaml:4: pool.collector: required key is missing",
        ),
        (
            ("gridtype: condor", "gridtype: globus"),
            "conf.yaml:14: entries[0].gridtype: must be one of",
        ),
    ],
)
def test_bad_input_is_located(change: tuple[str, str], expected: str) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    problems = errors_of(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_duplicate_names_are_errors() -> None:
    text = (
        BASE
        + """\
  - name: osg
    type: x509
    path: /tmp/proxy
"""
    )
    problems = errors_of(text)
    assert problems == [
        "conf.yaml:22: credentials[1].name: duplicate name 'osg' (first at credentials[0])"
    ]


def test_an_entry_named_all_is_refused_naming_the_entry() -> None:
    # `all` means every entry to `aglidein downtime add` and the downtime API
    problems = errors_of(BASE.replace("  - name: CE1\n", "  - name: all\n"))
    assert problems == [
        "conf.yaml:13: entries[0].name: 'all' is reserved: it means every entry "
        "(`aglidein downtime add all`); rename this entry"
    ]
    assert parse_config_text(BASE.replace("  - name: CE1\n", "  - name: All\n")).config


def test_duplicate_yaml_keys_are_errors() -> None:
    problems = errors_of(BASE.replace("  name: f1\n", "  name: f1\n  name: f2\n"))
    assert problems == ["conf.yaml:3: factory.name: duplicate key"]


def test_all_errors_are_listed() -> None:
    text = BASE.replace("  name: f1\n", "  name: f1\n  colour: blue\n").replace(
        "gridtype: condor", "gridtype: nope"
    )
    assert len(errors_of(text)) == 2


def test_not_yaml_and_not_a_mapping() -> None:
    assert re.match(r"conf\.yaml:[12]: not valid YAML", errors_of("factory: [1, 2")[0])
    assert errors_of("- just\n- a list\n") == [
        "conf.yaml:1: the config must be a mapping of sections"
    ]
    assert errors_of("") == ["conf.yaml:1: the config file is empty"]


def test_suspicious_things_are_warnings() -> None:
    text = BASE.replace("auth: {method: scitoken, credential: osg}", "auth: {method: scitoken}")
    text = text.replace("TARGET.GLIDEIN_Site", "TARGET.GLIDEIN_Nowhere")
    warnings = parse_config_text(text, source="conf.yaml").warnings
    assert any("entries[0].auth: entry 'CE1' has no credential" in w for w in warnings)
    assert any("TARGET.GLIDEIN_Nowhere" in w for w in warnings)


def test_current_time_is_in_every_ad_so_no_warning() -> None:
    text = BASE.replace(
        "match: 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)'",
        "match: 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && "
        "TARGET.CurrentTime > 0'",
    )
    assert parse_config_text(text, source="conf.yaml").warnings == ()


@pytest.mark.parametrize(
    "text",
    [
        "factory: {name: x",  # not YAML
        "factory: {name: x, state_dir: /tmp, bogus: 1}\npool: {}",  # unknown key + missing
        BASE.replace("5m", "5m").replace("  name: f1\n", "  name: f1\n  cycle: soon\n"),
    ],
)
def test_check_config_exit_1_without_traceback(
    text: str, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(text)
    assert main(["check-config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert all(line.startswith(f"error: {path}:") for line in captured.err.splitlines())


def test_check_config_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "/nonexistent/aglidein.yaml"]) == 1
    assert "no such config file" in capsys.readouterr().err


def test_check_config_ok_prints_result_on_stdout(
    write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(BASE)
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "ok (1 groups, 1 entries, 1 credentials" in captured.out


def test_config_schema_is_json_schema_for_every_section() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aglidein", "config", "schema"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    schema = json.loads(out)
    assert set(schema["properties"]) == {
        "factory",
        "pool",
        "http",
        "logs",
        "migration",
        "groups",
        "entries",
        "credentials",
    }
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"factory", "pool"}


def test_readme_config_reference_is_current() -> None:
    from aglidein.configref import reference_markdown

    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- config-reference:start -->\n")[1].split(
        "<!-- config-reference:end -->"
    )[0]
    assert block == reference_markdown(REPO / "conf" / "aglidein.example.yaml"), (
        "run: .venv/bin/aglidein config reference, and paste it into README.md"
    )
