"""The compiled ClassAd evaluator agrees with classad2 on every value, UNDEFINED and ERROR
included (hypothesis oracle test), and hands what it cannot compile to classad2."""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aglidein.classad.evaluate import compile_expr, conjuncts, truthy
from aglidein.classad.facade import ERROR, UNDEFINED, ExprSyntaxError, parse_expr
from aglidein.config import parse_config_text
from aglidein.core.demand import group_projection, type_sensitive_refs
from aglidein.core.match import Matcher, pair_matches

NAMES = ["a", "B", "Cpus"]
STRINGS = ["a", "A", "b", "", "a, b", "b a", "B,A ,", "x;a", " a ", "a\tb", "ab", "Site_1"]
SCALARS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.0, 2.5, -1.5, 1.0, 2**62, -(2**63) + 1]),
    st.sampled_from(STRINGS),
    st.booleans(),
)


def literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


atoms = st.one_of(
    SCALARS.map(literal),
    st.sampled_from(["undefined", "error", "UNDEFINED", "True"]),
    st.builds(
        lambda s, n: f"{s}{n}",
        st.sampled_from(["MY.", "TARGET.", "", "my.", "Target."]),
        st.sampled_from([*NAMES, "cpus", "A", "missing"]),
    ),
)

BINARY = [
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "=?=",
    "=!=",
    "is",
    "isnt",
    "&&",
    "||",
]


def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    strings = st.sampled_from(STRINGS).map(literal)
    return st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(BINARY), inner),
        st.builds(lambda op, a: f"{op}{a}", st.sampled_from(["-", "!", "+"]), inner),
        st.builds(lambda c, a, b: f"({c} ? {a} : {b})", inner, inner, inner),
        st.builds(
            lambda f, a: f"{f}({a})",
            st.sampled_from(
                [
                    "isUndefined",
                    "isError",
                    "isString",
                    "isInteger",
                    "isReal",
                    "isBoolean",
                    "size",
                    "toLower",
                ]
            ),
            inner,
        ),
        st.builds(lambda c, a, b: f"ifThenElse({c}, {a}, {b})", inner, inner, inner),
        st.builds(
            lambda f, a, b: f"{f}({a}, {b})",
            st.sampled_from(["stringListMember", "stringListIMember", "strcmp", "stricmp"]),
            inner,
            st.one_of(inner, strings),
        ),
        st.builds(
            lambda a, b, d: f"stringListMember({a}, {b}, {d})",
            inner,
            st.one_of(inner, strings),
            st.sampled_from(['";"', '", "', "undefined", "1", '"b"']),
        ),
        st.builds(
            lambda a, items: f"member({a}, {{{', '.join(items)}}})",
            inner,
            st.lists(inner, max_size=3),
        ),
        st.builds(
            lambda p, a, o: f"regexp({p}, {a}{o})",
            st.sampled_from(['"a"', '"^a.*b$"', '"A|b"', '"(a"', '"[ab]"', '""']),
            inner,
            st.sampled_from(["", ', "i"', ', "I"']),
        ),
        st.builds(lambda a, b: f"({a} & {b})", inner, inner),
    )


expressions = st.recursive(atoms, extend, max_leaves=8)
ads = st.dictionaries(st.sampled_from([*NAMES, "cpus"]), SCALARS, max_size=3)


def same(ours: object, theirs: object) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(theirs):
        return math.isnan(ours)
    return type(ours) is type(theirs) and ours == theirs


def lowered(ad: dict[str, object]) -> dict[str, object]:
    return {name.lower(): value for name, value in ad.items()}


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, my=ads, target=ads)
def test_compiled_evaluation_matches_classad2(text: str, my: dict, target: dict) -> None:
    expected = parse_expr(text).evaluate(my, target)
    got = compile_expr(text).evaluate(lowered(my), lowered(target))
    assert same(got, expected), f"{text!r} my={my} target={target}: {got!r} != {expected!r}"


@settings(max_examples=1000, deadline=None)
@given(parts=st.lists(expressions, min_size=2, max_size=4), my=ads, target=ads)
def test_conjunction_is_true_iff_every_conjunct_is_truthy(
    parts: list[str], my: dict, target: dict
) -> None:
    text = " && ".join(f"({p})" for p in parts)
    whole = parse_expr(text).evaluate(my, target) is True
    pieces = conjuncts(compile_expr(text))
    whole_expr = compile_expr(text)
    assert len(pieces) >= len(parts) or not whole_expr.compiled
    assert whole == all(truthy(p.evaluate(lowered(my), lowered(target))) for p in pieces)


def test_design_match_expression_compiles_and_matches() -> None:
    expr = compile_expr(
        "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && "
        "MY.RequestCpus <= TARGET.GLIDEIN_CPUS"
    )
    assert expr.compiled
    assert expr.my_refs == {"desired_sites", "requestcpus"}
    assert expr.target_refs == {"glidein_site", "glidein_cpus"}
    job = {"desired_sites": "US_FNAL, CERN", "requestcpus": 4}
    assert expr.evaluate(job, {"glidein_site": "CERN", "glidein_cpus": 8}) is True
    assert expr.evaluate(job, {"glidein_site": "cern", "glidein_cpus": 8}) is False
    assert expr.evaluate(job, {"glidein_site": "CERN"}) is UNDEFINED


def test_outside_the_subset_falls_back_to_classad2() -> None:
    expr = compile_expr("(MY.a & 3) == 1")
    assert not expr.compiled
    assert expr.evaluate({"a": 5}, {}) is True
    partly = compile_expr("size(MY.name) > 2 && MY.x == 1")
    assert partly.compiled
    assert partly.evaluate({"name": "abc", "x": 1}, {}) is True
    assert compile_expr("1/0").evaluate({}, {}) is ERROR
    assert compile_expr("-3/0.0").evaluate({}, {}) == -math.inf


ODD = [
    "{}.a",
    "{[a=1]}.a",
    "{x}.a == {1}",
    "parent",
    "parent || true",
    "[a=1].a",
    "x[0]",
    "TARGET.x.y",
    "other.x == 3",
    "countMatches(a, {[a=1]}) > b",
    "'quoted name' == 1",
    "1e3 > 2 && (3 & 1) == 1",
]
TOKENS = [
    *["{", "}", "[", "]", "(", ")", ".", ",", ";", "=", "a", "b", "MY", "TARGET", "other"],
    *["parent", "root", "1", "2.5", '"x"', "true", "undefined", "+", "-", "&&", "||", "=?="],
    *["<", "!", "?", ":", "size", "eval", "countMatches", "stringListMember", "'q'", "[a=1]"],
    *["{}", "0x1f", "CurrentTime", "ad", "LEFT", "&", "~", "<<", "is", "time", "unparse"],
]


def every_path(text: str) -> None:
    """Everything matching does with a group's `match`; none of it may raise."""
    compiled = compile_expr(text)
    compiled.evaluate({"a": 1}, {"b": "x"})
    for part in conjuncts(compiled):
        part.evaluate({}, {})
    type_sensitive_refs(text)
    config = parse_config_text(
        yaml.safe_dump(
            {
                "factory": {"name": "f", "state_dir": "/nonexistent"},
                "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k"},
                "groups": [{"name": "g", "schedds": ["s"], "match": text}],
                "entries": [],
            }
        )
    ).config
    group_projection(config.groups[0])
    matcher = Matcher(text, [("e", {"a": 2, "b": "x"})], 100.0)
    matcher.match_classes([{"a": 1}, {}])
    pair_matches(text, {"a": 1}, {"b": 2}, 100.0)


def test_expressions_classad2_accepts_compile_or_fall_back_never_crash() -> None:
    for text in ODD:
        every_path(text)  # `{}.a` raised "Unable to determine external references"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=9))
def test_token_soup_that_parses_never_crashes(tokens: list[str]) -> None:
    text = " ".join(tokens)
    try:
        parse_expr(text)
    except ExprSyntaxError:
        return
    every_path(text)
