"""ClassAd value semantics shared by the compiled evaluator and its functions.

Exactly classad2's behaviour (checked by the oracle test); `Fallback` marks corner cases
left to classad2 at run time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from aglidein.classad.facade import ERROR, UNDEFINED, ScalarValue, Special

__all__ = [
    "Ad",
    "Evaluator",
    "Fallback",
    "Value",
    "arith",
    "ascii_lower",
    "choose",
    "compare",
    "identical",
    "truth",
    "truthy",
]

Value = bool | int | float | str | Special
Ad = Mapping[str, ScalarValue]
Evaluator = Callable[[Ad, Ad], Value]

MIN64 = -(2**63)
_WRAP = 2**64
# HTCondor splits string lists on these (default: comma, space, tab, CR, LF — not \v or
# \f) and trims items with C isspace() (\v and \f included; no Unicode spaces).
STRING_LIST_SPACE = " \t\n\v\f\r"
DEFAULT_DELIMITERS = ", \t\r\n"
SAFE_REGEX = re.compile(r"^[A-Za-z0-9_ .*+?^$|()-]*$")


class Fallback(Exception):
    """A corner case the compiled code leaves to classad2."""


def _wrap(value: int) -> int:
    if MIN64 <= value < -MIN64:
        return value
    return (value - MIN64) % _WRAP + MIN64


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise Fallback
    return value


def truth(value: Value) -> bool | Special:
    """A value as a condition: numbers by non-zero, strings are ERROR."""
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[return-value]
    if kind is int or kind is float:
        return value != 0
    if value is UNDEFINED:
        return UNDEFINED
    return ERROR


def truthy(value: Value) -> bool:
    """Whether `value` makes `&&` go on: true or a non-zero number."""
    return truth(value) is True


def arith(op: str, a: Value, b: Value) -> Value:
    if a is ERROR or b is ERROR:
        return ERROR
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    ta, tb = type(a), type(b)
    if ta is str or tb is str:
        return ERROR
    if ta is float or tb is float:
        x, y = float(a), float(b)  # type: ignore[arg-type]
        if op == "+":
            return _finite(x + y)
        if op == "-":
            return _finite(x - y)
        if op == "*":
            return _finite(x * y)
        if op == "/":
            if y == 0:
                raise Fallback
            return _finite(x / y)
        return ERROR  # % on reals
    i, j = int(a), int(b)  # type: ignore[arg-type]
    if op == "+":
        return _wrap(i + j)
    if op == "-":
        return _wrap(i - j)
    if op == "*":
        return _wrap(i * j)
    if j == 0:
        return ERROR
    if op == "/":
        if i == MIN64 and j == -1:
            raise Fallback
        quotient = abs(i) // abs(j)
        return quotient if (i < 0) == (j < 0) else -quotient
    remainder = abs(i) % abs(j)
    return remainder if i >= 0 else -remainder


def ascii_lower(text: str) -> str:
    if not text.isascii():
        raise Fallback
    return text.lower()


def compare(op: str, a: Value, b: Value) -> Value:
    if a is ERROR or b is ERROR:
        return ERROR
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    ta, tb = type(a), type(b)
    if ta is str or tb is str:
        if ta is not tb:
            return ERROR
        x: Any = ascii_lower(a)  # type: ignore[arg-type]
        y: Any = ascii_lower(b)  # type: ignore[arg-type]
    elif ta is float or tb is float:
        x, y = float(a), float(b)  # type: ignore[arg-type]
    else:
        x, y = int(a), int(b)  # type: ignore[arg-type]
    if op == "==":
        return bool(x == y)
    if op == "!=":
        return bool(x != y)
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def identical(a: Value, b: Value) -> bool:
    return type(a) is type(b) and a == b


def choose(cond: Evaluator, then: Evaluator, other: Evaluator) -> Evaluator:
    """`cond ? then : other` and `ifThenElse()`: UNDEFINED or ERROR conditions pass through."""

    def run(my: Ad, target: Ad) -> Value:
        c = truth(cond(my, target))
        if c is True:
            return then(my, target)
        if c is False:
            return other(my, target)
        return c

    return run
