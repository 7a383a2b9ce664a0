"""Factory query_expr → the entry side (TARGET) of aglidein's match."""

from __future__ import annotations

import pytest

from aglidein.gwms.query_expr import and_all, scope_to_target
from tests.gwms.helpers import classad_matches


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("(GLIDEIN_Site=!=UNDEFINED)", "(TARGET.GLIDEIN_Site=!=UNDEFINED)"),
        ('stringListMember("CMS", MY.VOs)', 'stringListMember("CMS", TARGET.VOs)'),
        ('GLIDEIN_CPUS >= 8 && Name != "x.y"', 'TARGET.GLIDEIN_CPUS >= 8 && TARGET.Name != "x.y"'),
        ("True", "True"),
    ],
)
def test_factory_queries_are_scoped_to_the_entry(query: str, expected: str) -> None:
    assert scope_to_target(query).expr == expected


@pytest.mark.parametrize("query", ["TARGET.X == 1", "a.b == 1", "[a = 1].a", "X =="])
def test_factory_queries_that_cannot_be_scoped_are_refused(query: str) -> None:
    result = scope_to_target(query)
    assert result.expr is None
    assert result.problem


def test_scoped_query_evaluates_on_the_entry() -> None:
    expr = scope_to_target("(GLIDEIN_Site=!=UNDEFINED)").expr
    assert expr is not None
    assert classad_matches(expr, {"GLIDEIN_Site": "mine"}, {"GLIDEIN_Site": "S"})
    assert not classad_matches(expr, {"GLIDEIN_Site": "mine"}, {})


def test_and_all_leaves_out_true() -> None:
    assert and_all(["True", "true"]) == "true"
    assert and_all(["True", "A"]) == "A"
    assert and_all(["A", "B || C"]) == "(A) && (B || C)"
