"""The config file's YAML: the line of every key path, duplicate keys and huge numbers
named, alias bombs refused before they expand."""

from __future__ import annotations

import pytest

from aglidein.config_yaml import MAX_YAML_ALIASES, format_loc, line_of, load_yaml
from aglidein.errors import ConfigError


def test_every_key_path_knows_its_line() -> None:
    data, lines, problems = load_yaml("a:\n  b: 1\nlist:\n  - x: 2\n", "c.yaml")
    assert data == {"a": {"b": 1}, "list": [{"x": 2}]}
    assert problems == []
    assert lines[("a", "b")] == 2
    assert line_of(("list", 0, "x"), lines) == 4
    assert line_of(("list", 0, "missing"), lines) == 4  # the nearest known parent
    assert format_loc(("list", 0, "x")) == "list[0].x"
    assert format_loc(()) == "(top)"


def test_duplicate_keys_and_huge_numbers_are_problems_with_lines() -> None:
    _, _, problems = load_yaml("a: 1\na: 2\n", "c.yaml")
    assert problems == ["c.yaml:2: a: duplicate key"]
    with pytest.raises(ConfigError, match=r"c.yaml:1: n: number has more than"):
        load_yaml("n: " + "9" * 40 + "\n", "c.yaml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", r"c.yaml:1: the config file is empty"),
        ("a: [", r"c.yaml:\d+: not valid YAML"),
        (
            "x: &a [1]\n" + "".join(f"k{i}: *a\n" for i in range(MAX_YAML_ALIASES + 1)),
            rf"more than {MAX_YAML_ALIASES} YAML aliases",
        ),
        (
            "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
            r"YAML aliases expand to more than",
        ),
    ],
)
def test_unreadable_or_explosive_yaml_is_refused_with_where(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_yaml(text, "c.yaml")
