"""The limits and START keys GlideinWMS operators rely on: factory max_running, an
entry's per-group limits and allow-list, start_expr on entries and groups."""

from __future__ import annotations

import pytest

from aglidein.config import parse_config_text
from aglidein.errors import ConfigError
from tests.test_config import BASE

ENTRY_KEYS = "    attrs: {GLIDEIN_Site: SITE1, GLIDEIN_CPUS: 8}\n"


def with_entry_keys(text: str) -> str:
    """BASE with `text` (entry keys, 4-space indented) added to entry CE1."""
    return BASE.replace(ENTRY_KEYS, ENTRY_KEYS + text)


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, source="conf.yaml")
    return info.value.problems


def test_new_keys_load() -> None:
    text = with_entry_keys(
        "    group_limits: {main: {max_glideins: 40, max_idle: 5}}\n"
        "    allow_groups: [main]\n"
        "    start_expr: 'TARGET.RequestMemory <= 2000'\n"
    ).replace(
        "    schedds: [schedd1.example.org]\n", "    schedds: [s1]\n    start_expr: 'Cpus > 0'\n"
    )
    config = parse_config_text(
        text.replace("  state_dir:", "  limits: {max_running: 30}\n  state_dir:")
    ).config
    entry = config.entry("CE1")
    assert config.factory.limits.max_running == 30
    assert entry.group_limits["main"].max_glideins == 40
    assert entry.group_limits["main"].max_held is None  # unset: no limit
    assert entry.allows("main")
    assert not entry.allows("other")
    assert entry.start_expr_for(config.group("main")) == (
        "(TARGET.RequestMemory <= 2000) && (Cpus > 0)"
    )


def test_a_bad_start_expr_names_the_key() -> None:
    (problem,) = errors_of(with_entry_keys("    start_expr: 'Memory >'\n"))
    assert (
        problem == "conf.yaml:18: entries[0].start_expr: not a valid ClassAd expression: 'Memory >'"
    )
    group = BASE.replace(
        "    schedds: [schedd1.example.org]\n", "    schedds: [s]\n    start_expr: '(('\n"
    )
    (problem,) = errors_of(group)
    assert problem.startswith("conf.yaml:11: groups[0].start_expr: ")


def test_unknown_groups_are_errors() -> None:
    problems = errors_of(
        with_entry_keys(
            "    group_limits: {nope: {max_idle: 1}}\n    allow_groups: [main, other]\n"
        )
    )
    assert problems == [
        "conf.yaml:18: entries[0].group_limits: unknown group 'nope'",
        "conf.yaml:19: entries[0].allow_groups: unknown group 'other'",
    ]


def test_start_expr_attr_is_reserved() -> None:
    (problem,) = errors_of(
        BASE.replace("GLIDEIN_CPUS: 8}", "GLIDEIN_CPUS: 8, GLIDEIN_START_EXPR: 'x'}")
    )
    assert "attrs.GLIDEIN_START_EXPR is set by start_expr: use start_expr" in problem


SIGNING = "  signing_key: /etc/condor/passwords.d/POOL\n"


def test_factory_schedds_is_a_list_and_the_old_scalar_a_one_item_list() -> None:
    assert parse_config_text(BASE).config.pool.schedds == ("local",)
    one = BASE.replace(SIGNING, SIGNING + "  factory_schedd: fs.example.org\n")
    assert parse_config_text(one).config.pool.schedds == ("fs.example.org",)
    two = BASE.replace(SIGNING, SIGNING + "  factory_schedds: [fs1.example.org, 'fs2:9618']\n")
    assert parse_config_text(two).config.pool.schedds == ("fs1.example.org", "fs2:9618")


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            "  factory_schedd: local\n  factory_schedds: [a, b]\n",
            "pool.factory_schedd and pool.factory_schedds are both set",
        ),
        ("  factory_schedds: [a, a]\n", "'a' is listed twice"),
        ("  factory_schedds: []\n", "pool.factory_schedds"),
        ("  factory_schedds: [' ']\n", "an empty schedd name"),
    ],
)
def test_bad_factory_schedds_name_the_problem(keys: str, problem: str) -> None:
    errors = errors_of(BASE.replace(SIGNING, SIGNING + keys))
    assert any(problem in e for e in errors), errors
