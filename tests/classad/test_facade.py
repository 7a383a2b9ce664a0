"""The classad2 door: stringListMember works through it, values come back as Python data."""

from __future__ import annotations

import io

import classad2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aglidein.classad.facade import (
    ERROR,
    UNDEFINED,
    Expr,
    ExprSyntaxError,
    ad_from_json,
    is_true,
    iter_json_ads,
    iter_long_ads,
    parse_expr,
    quote,
)
from tests.conftest import FIXTURES


def test_string_list_member_works_through_the_door() -> None:
    expr = parse_expr("stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)")
    assert expr.evaluate({"DESIRED_Sites": "Site_A, Site_B"}, {"GLIDEIN_Site": "Site_B"}) is True
    assert expr.evaluate({"DESIRED_Sites": "Site_A"}, {"GLIDEIN_Site": "Site_B"}) is False
    assert (
        parse_expr("MY.DESIRED_Sites == TARGET.GLIDEIN_Site").evaluate({}, {"GLIDEIN_Site": "B"})
        is UNDEFINED
    )


def test_undefined_and_error_are_not_true() -> None:
    assert parse_expr("x").evaluate() is UNDEFINED
    assert parse_expr("1/0").evaluate() is ERROR
    assert not is_true(UNDEFINED)
    assert not is_true(ERROR)
    assert not is_true("true")
    for falsy in (0, 0.0, False, [1]):
        assert not is_true(falsy)
    assert is_true(parse_expr('MY.a =?= "X"').evaluate({"a": "X"}))
    assert parse_expr('MY.a =?= "x"').evaluate({"a": "X"}) is False
    assert parse_expr('MY.a == "x"').evaluate({"a": "X"}) is True


def test_a_non_zero_number_is_a_match_as_in_htcondor() -> None:
    # MatchClassAd::EvalMatchExpr takes IsBooleanValueEquiv: bool, or int/real != 0
    for truthy in (1, -2, 2.5, True):
        assert is_true(truthy)
    assert is_true(parse_expr("ifThenElse(MY.x, 1, 0)").evaluate({"x": True}))


def test_references_see_every_scope_of_a_match_context() -> None:
    mine, theirs = parse_expr(
        "other.Foo == 3 && ad.A && LEFT.B && RIGHT.C && TARGET.D.E"
    ).references()
    assert mine == {"A", "B"}
    assert theirs == {"Foo", "C", "D"}


def test_references_of_an_expression_classad2_cannot_list() -> None:
    # classad2's externalRefs raises ValueError on these: the text is scanned instead
    assert not parse_expr("{[a=1]}.a").references()[1]
    assert "x" in parse_expr("{x}.a").references()[0]
    assert parse_expr("{TARGET.y}.a").references()[1] == {"y"}


def test_current_time_counts_as_a_reference() -> None:
    mine, _ = parse_expr(
        "(GLIDEIN_ToRetire =?= undefined) || (CurrentTime < GLIDEIN_ToRetire)"
    ).references()
    assert {n.lower() for n in mine} == {"glidein_toretire", "currenttime"}
    assert {n.lower() for n in parse_expr("TARGET.CurrentTime > 0").references()[1]} == {
        "currenttime"
    }


def test_references_split_my_and_target() -> None:
    mine, theirs = parse_expr(
        "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && RequestCpus <= TARGET.GLIDEIN_CPUS"
    ).references()
    assert mine == {"DESIRED_Sites", "RequestCpus"}
    assert theirs == {"GLIDEIN_Site", "GLIDEIN_CPUS"}


@pytest.mark.parametrize("text", ["", "a &&& b", "1 +", "(("])
def test_bad_expressions_raise(text: str) -> None:
    with pytest.raises(ExprSyntaxError):
        parse_expr(text)


def test_expressions_compare_by_text() -> None:
    assert parse_expr("a + 1") == parse_expr("a + 1")
    assert str(parse_expr("a + 1")) == "a + 1"


def test_json_dump_streams_one_ad_at_a_time() -> None:
    with open(FIXTURES / "classads" / "schedd-jobs.json") as handle:
        ads = list(iter_json_ads(iter(lambda: handle.read(97), "")))
    assert len(ads) == 13
    assert sum(1 for ad in ads if ad["JobStatus"] == 1) == 7


def test_json_expressions_become_expr() -> None:
    with open(FIXTURES / "classads" / "collector-startds.json") as handle:
        ads = [ad_from_json(ad) for ad in iter_json_ads(handle)]
    assert len(ads) == 7
    assert isinstance(ads[0]["CurrentTime"], Expr)


def test_truncated_json_is_an_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        list(iter_json_ads(io.StringIO('[\n{"a": 1},\n{"b": ')))


def test_long_format_dump() -> None:
    ads = list(iter_long_ads((FIXTURES / "classads" / "schedd-jobs.ads").read_text()))
    assert len(ads) == 13
    assert ads[0]["DESIRED_Sites"] == "Site_Name1"
    assert ads[0]["JobStatus"] == 1


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
def test_quote_escapes_as_htcondor_does(text: str) -> None:
    assert quote(text) == classad2.quote(text)
    assert parse_expr(quote(text)).evaluate() == text


def test_quote_escapes_controls_and_non_ascii_as_htcondor_writes_them() -> None:
    assert quote('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert quote("tab\tnl\n\x01\x7fé") == '"tab\\tnl\\n\\001\\177\\303\\251"'
    with pytest.raises(ValueError, match="NUL"):
        quote("a\0b")
