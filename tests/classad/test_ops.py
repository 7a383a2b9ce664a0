"""ClassAd value semantics of aglidein.classad.ops (truth, arith, compare, identical,
choose): classad2 is the oracle on a grid of values, Fallback on the corner cases."""

from __future__ import annotations

import itertools

import pytest

from aglidein.classad.facade import ERROR, UNDEFINED, parse_expr
from aglidein.classad.ops import (
    MIN64,
    Ad,
    Evaluator,
    Fallback,
    Value,
    arith,
    ascii_lower,
    choose,
    compare,
    identical,
    truth,
    truthy,
)

VALUES: list[Value] = [
    0,
    1,
    -7,
    3,
    2**62,
    MIN64,
    2.5,
    -0.5,
    0.0,
    True,
    False,
    "a",
    "A",
    "b",
    "",
    UNDEFINED,
    ERROR,
]


def literal(value: Value) -> str:
    if value is UNDEFINED:
        return "undefined"
    if value is ERROR:
        return "error"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int) and value == MIN64:
        return f"({MIN64 + 1} - 1)"
    return repr(value)


def oracle(text: str) -> object:
    return parse_expr(text).evaluate()


def same(mine: object, theirs: object) -> bool:
    return type(mine) is type(theirs) and mine == theirs


PAIRS = list(itertools.product(VALUES, VALUES))


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%"])
def test_arith_agrees_with_classad2(op: str) -> None:
    checked = 0
    for a, b in PAIRS:
        try:
            mine = arith(op, a, b)
        except Fallback:
            continue
        theirs = oracle(f"{literal(a)} {op} {literal(b)}")
        assert same(mine, theirs), (a, op, b, mine, theirs)
        checked += 1
    assert checked > len(PAIRS) // 2


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_compare_agrees_with_classad2(op: str) -> None:
    for a, b in PAIRS:
        theirs = oracle(f"{literal(a)} {op} {literal(b)}")
        assert same(compare(op, a, b), theirs), (a, op, b, theirs)


def test_identical_agrees_with_classad2() -> None:
    for a, b in PAIRS:
        assert identical(a, b) is oracle(f"{literal(a)} =?= {literal(b)}"), (a, b)


def test_truth_agrees_with_classad2_conditions() -> None:
    for value in VALUES:
        theirs = oracle(f"{literal(value)} ? true : false")
        assert same(truth(value), theirs), (value, theirs)
        assert truthy(value) is (theirs is True)


def test_integer_overflow_wraps_like_int64() -> None:
    top = 2**63 - 1
    assert arith("+", top, 1) == MIN64
    assert arith("*", 2**62, 4) == 0
    assert arith("-", MIN64, 1) == top


def test_integer_division_truncates_toward_zero() -> None:
    assert arith("/", -7, 2) == -3
    assert arith("/", 7, -2) == -3
    assert arith("%", -7, 2) == -1
    assert arith("%", 7, -2) == 1
    assert arith("/", 1, 0) is ERROR
    assert arith("%", 1, 0) is ERROR


def test_corner_cases_fall_back() -> None:
    with pytest.raises(Fallback):
        arith("/", 1.0, 0)
    with pytest.raises(Fallback):
        arith("/", MIN64, -1)
    with pytest.raises(Fallback):
        arith("*", 1e308, 10.0)
    with pytest.raises(Fallback):
        ascii_lower("Ärger")
    with pytest.raises(Fallback):
        compare("==", "é", "É")
    assert ascii_lower("AbC") == "abc"


def test_choose_passes_undefined_and_error_through() -> None:
    calls: list[str] = []

    def const(value: Value, name: str) -> Evaluator:
        def run(my: Ad, target: Ad) -> Value:
            calls.append(name)
            return value

        return run

    then = const("then", "then")
    other = const("other", "other")
    assert choose(const(True, "c"), then, other)({}, {}) == "then"
    assert choose(const(0, "c"), then, other)({}, {}) == "other"
    assert choose(const(UNDEFINED, "c"), then, other)({}, {}) is UNDEFINED
    assert choose(const("s", "c"), then, other)({}, {}) is ERROR
    assert calls == ["c", "then", "c", "other", "c", "c"]


def test_choose_reads_both_ads() -> None:
    def cond(my: Ad, target: Ad) -> Value:
        return my["x"]  # type: ignore[return-value]

    def then(my: Ad, target: Ad) -> Value:
        return target["y"]  # type: ignore[return-value]

    def other(my: Ad, target: Ad) -> Value:
        return -1

    run = choose(cond, then, other)
    assert run({"x": True}, {"y": 5}) == 5
    assert run({"x": False}, {"y": 5}) == -1
