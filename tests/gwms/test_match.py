"""match_expr (Python) → ClassAd: translated only when the result agrees, else flagged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aglidein.classad.evaluate import compile_expr
from aglidein.gwms.match import AttrType, translate_match_expr
from tests.gwms.helpers import classad_matches

JOB_TYPES: dict[str, AttrType] = {"DESIRED_Sites": "str", "RequestCpus": "num", "Owner": "str"}
GLIDEIN_TYPES: dict[str, AttrType] = {
    "GLIDEIN_Site": "str",
    "GLIDEIN_CPUS": "num",
    "HAS_GPU": "bool",
}

SITE = 'glidein["attrs"]["GLIDEIN_Site"]'
TRANSLATABLE = [
    "True",
    f'{SITE} in job["DESIRED_Sites"].split(",")',
    f'{SITE} not in job["DESIRED_Sites"].split(",")',
    'glidein["attrs"]["GLIDEIN_CPUS"] >= job["RequestCpus"]',
    f'{SITE} == "Site_A" or job["Owner"] != "alice"',
    f'not ({SITE} in ["Site_A", "site_b"]) and job["RequestCpus"] < 4',
    'glidein["attrs"]["HAS_GPU"] == True and job["RequestCpus"] in (1, 2)',
    # the idioms of real frontends: .get() (None when missing), None tests, defaults
    'glidein["attrs"].get("GLIDEIN_Site") in job.get("DESIRED_Sites", "").split(",")',
    'glidein["attrs"].get("GLIDEIN_Site") not in job.get("DESIRED_Sites", "").split(",")',
    'job.get("DESIRED_Sites") is None or glidein["attrs"]["GLIDEIN_Site"] in '
    'job["DESIRED_Sites"].split(",")',
    'job.get("Owner") != "alice" and glidein["attrs"].get("GLIDEIN_Site") == "Site_A"',
    'not glidein["attrs"].get("HAS_GPU") or job.get("RequestCpus", 1) <= 4',
    'glidein["attrs"].get("GLIDEIN_CPUS", 1) >= job.get("RequestCpus", 1)',
    'glidein["attrs"].get("GLIDEIN_CPUS") >= job["RequestCpus"]',
    'job.get("Owner") == glidein["attrs"].get("GLIDEIN_Site")',
    'job.get("Owner") is not None and job.get("Owner") not in ["alice", "bob"]',
    '"" in job["DESIRED_Sites"].split(",") or "Site_A" in job.get("DESIRED_Sites", "").split(",")',
    '(job["Owner"] in job["DESIRED_Sites"].split(",")) == False',
]
UNTRANSLATABLE = [
    ('glidein["attrs"].get("GLIDEIN_Site")', "not a boolean"),
    ('job.get("Owner", 3) == "a"', "the default is not a str"),
    ('job.get("Owner", job["X"]) == "a"', "the default must be a constant"),
    ('job["Owner"] is "a"', "`is` only with None"),
    ('job["Owner"].lower() == "a"', "unsupported call"),
    ('"Site" in job["DESIRED_Sites"]', "unsupported membership"),
    ('job["RequestCpus"] < glidein["attrs"]["GLIDEIN_CPUS"] < 8', "chained"),
    ('job["Unknown"] > 3', "known type"),
    ('job["Owner"] == glidein["attrs"]["GLIDEIN_CPUS"]', "same known type"),
    ('job["Owner"] and True', "not a boolean"),
    ('glidein["params"]["X"] == "a"', "unsupported reference"),
    ("import os", "not valid Python"),
    ('len(job["Owner"]) > 2', "unsupported"),
]


def python_matches(text: str, job: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """GlideinWMS semantics: eval the expression; an exception is no match."""
    try:
        return bool(eval(text, {"job": job, "glidein": {"attrs": attrs}}))
    except Exception:
        return False


sites = st.sampled_from(
    ["Site_A", "site_a", "Site_B", "site_b", "Other", "", " Site_A", "\tSite_A", "Site_A,site_b"]
)
# comma lists as users write them: blanks around items, empty pieces
site_lists = st.lists(
    st.sampled_from(["Site_A", "site_b", " Site_A", "Site_B ", "", "x y", "\tSite_A"]), max_size=4
)
jobs = st.fixed_dictionaries(
    {
        "DESIRED_Sites": site_lists.map(",".join),
        "RequestCpus": st.integers(0, 10),
        "Owner": st.sampled_from(["alice", "Alice", "bob"]),
    }
)
glideins = st.fixed_dictionaries(
    {"GLIDEIN_Site": sites, "GLIDEIN_CPUS": st.integers(0, 10), "HAS_GPU": st.booleans()}
)


@pytest.mark.parametrize("text", TRANSLATABLE)
@settings(max_examples=60, deadline=None)
@given(job=jobs, attrs=glideins)
def test_translations_agree_with_python(
    text: str, job: dict[str, Any], attrs: dict[str, Any]
) -> None:
    translation = translate_match_expr(text, JOB_TYPES, GLIDEIN_TYPES)
    assert translation.expr is not None, translation.problem
    assert classad_matches(translation.expr, job, attrs) == python_matches(text, job, attrs)


partial_jobs = st.fixed_dictionaries(
    {},
    optional={
        "DESIRED_Sites": site_lists.map(",".join),
        "RequestCpus": st.integers(0, 10),
        "Owner": st.sampled_from(["alice", "bob"]),
    },
)
partial_glideins = st.fixed_dictionaries(
    {},
    optional={"GLIDEIN_Site": sites, "GLIDEIN_CPUS": st.integers(0, 10), "HAS_GPU": st.booleans()},
)


@pytest.mark.parametrize("text", TRANSLATABLE)
@settings(max_examples=60, deadline=None)
@given(job=partial_jobs, attrs=partial_glideins)
def test_missing_attributes_agree_with_python(
    text: str, job: dict[str, Any], attrs: dict[str, Any]
) -> None:
    translation = translate_match_expr(text, JOB_TYPES, GLIDEIN_TYPES)
    assert translation.expr is not None
    assert classad_matches(translation.expr, job, attrs) == python_matches(text, job, attrs)


def test_the_fixture_match_expr_becomes_string_list_member() -> None:
    text = 'glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")'
    expr = translate_match_expr(text, {}, {}).expr
    assert expr is not None
    # the compiled fast path for clean lists, the exact one for blanks and empty pieces
    assert 'stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites, ",")' in expr
    assert 'identicalMember(TARGET.GLIDEIN_Site, split(MY.DESIRED_Sites, ","))' in expr
    assert compile_expr(expr).compiled


@pytest.mark.parametrize(
    ("job", "site", "python"),
    [
        ({"DESIRED_Sites": "A,B"}, "B", True),
        ({"DESIRED_Sites": "A, B"}, "B", False),  # Python keeps the blank: " B"
        ({"DESIRED_Sites": "A, B"}, " B", True),
        ({"DESIRED_Sites": "a,B"}, "A", False),  # case-sensitive
        ({"DESIRED_Sites": "A,"}, "", True),  # the empty last piece
        ({"DESIRED_Sites": ""}, "", True),  # "".split(",") == [""]
        ({"DESIRED_Sites": "A,B"}, "", False),
        ({}, "A", False),  # KeyError: no match
    ],
)
def test_comma_lists_split_exactly_like_python(
    job: dict[str, Any], site: str, python: bool
) -> None:
    text = 'glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")'
    assert python_matches(text, job, {"GLIDEIN_Site": site}) == python
    for negated in (text, text.replace(" in ", " not in ")):
        expr = translate_match_expr(negated, JOB_TYPES, GLIDEIN_TYPES).expr
        assert expr is not None
        want = python_matches(negated, job, {"GLIDEIN_Site": site})
        assert classad_matches(expr, job, {"GLIDEIN_Site": site}) == want


@pytest.mark.parametrize(("text", "reason"), UNTRANSLATABLE)
def test_uncertain_expressions_are_refused_with_a_reason(text: str, reason: str) -> None:
    translation = translate_match_expr(text, JOB_TYPES, GLIDEIN_TYPES)
    assert translation.expr is None
    assert translation.problem is not None
    assert reason in translation.problem
