"""The matcher's comparison tables agree with ClassAd comparison, pair by pair."""

from __future__ import annotations

import itertools

import pytest

from aglidein.classad.evaluate import compile_expr
from aglidein.core.match_tables import column_values, outer_table
from aglidein.core.model import ScalarValue

VALUES: list[ScalarValue] = [1, 2, 1.0, 2.5, True, "a", "A", "b", None, 2**60]


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!=", "=?="])
def test_outer_table_says_what_the_expression_says(op: str) -> None:
    expr = compile_expr(f"MY.x {op} TARGET.y")
    left, left_odd, left_str = column_values([{"x": v} for v in VALUES], "x")
    right, right_odd, right_str = column_values([{"y": v} for v in VALUES], "y")
    table = outer_table(op, left, right, left_str, right_str)
    for (i, a), (j, b) in itertools.product(enumerate(VALUES), enumerate(VALUES)):
        if i in left_odd or j in right_odd:
            continue  # the matcher evaluates those pairs one by one
        expected = expr.evaluate({"x": a}, {"y": b}) is True
        assert bool(table[i, j]) == expected, (a, op, b)


def test_values_numpy_cannot_compare_exactly_are_named() -> None:
    _, odd, has_strings = column_values([{"x": 2**60}, {"x": "é"}, {"x": None}, {"x": 3}], "x")
    assert odd == [0, 1, 2]
    assert has_strings
