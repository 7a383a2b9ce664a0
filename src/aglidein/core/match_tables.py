"""Comparison tables for the matcher: `op(left[i], right[j])` for every pair of
distinct values at once, numbers with numpy and strings through an index, as ClassAds
compare them (strings case-insensitively, `=?=` exactly, undefined never true)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from aglidein.core.model import ScalarValue

__all__ = ["column_values", "outer_table"]

BoolMatrix = npt.NDArray[np.bool_]
_EXACT_FLOAT = 2**53


def column_values(
    reps: list[dict[str, ScalarValue]], name: str
) -> tuple[list[ScalarValue], list[int], bool]:
    """Values of one attribute: (values, indexes numpy cannot compare exactly, any strings)."""
    values: list[ScalarValue] = []
    odd: list[int] = []
    for i, rep in enumerate(reps):
        value = rep.get(name)
        kind = type(value)
        if kind is str:
            if not value.isascii():  # type: ignore[union-attr]
                odd.append(i)
        elif kind is float or kind is bool or kind is int:
            if kind is int and abs(value) > _EXACT_FLOAT:  # type: ignore[arg-type]
                odd.append(i)
        else:
            odd.append(i)
        values.append(value)
    return values, odd, any(type(v) is str for v in values)


def outer_table(
    op: str, left: list[ScalarValue], right: list[ScalarValue], lstr: bool, rstr: bool
) -> BoolMatrix:
    """op(left[i], right[j]) is true, for the plain numbers and plain strings."""
    lnum = np.array([_num(v) for v in left], dtype=np.float64)
    rnum = np.array([_num(v) for v in right], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if op == "<":
            table = lnum[:, None] < rnum[None, :]
        elif op == "<=":
            table = lnum[:, None] <= rnum[None, :]
        elif op == ">":
            table = lnum[:, None] > rnum[None, :]
        elif op == ">=":
            table = lnum[:, None] >= rnum[None, :]
        elif op == "==":
            table = lnum[:, None] == rnum[None, :]
        elif op == "!=":
            both = ~np.isnan(lnum)[:, None] & ~np.isnan(rnum)[None, :]
            table = (lnum[:, None] != rnum[None, :]) & both
        else:  # =?=: same type and value
            ltype = np.array([_type_code(v) for v in left])
            rtype = np.array([_type_code(v) for v in right])
            table = (lnum[:, None] == rnum[None, :]) & (ltype[:, None] == rtype[None, :])
    if lstr and rstr:
        _string_outer(op, left, right, table)
    return table


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _string_outer(
    op: str, left: list[ScalarValue], right: list[ScalarValue], table: BoolMatrix
) -> None:
    lpos = [i for i, v in enumerate(left) if type(v) is str and v.isascii()]
    rpos = [j for j, v in enumerate(right) if type(v) is str and v.isascii()]
    if op == "=?=":
        by_value: dict[str, list[int]] = {}
        for j in rpos:
            by_value.setdefault(str(right[j]), []).append(j)
        for i in lpos:
            table[i, by_value.get(str(left[i]), [])] = True
        return
    lower_right = {j: str(right[j]).lower() for j in rpos}
    if op == "==":
        by_lower: dict[str, list[int]] = {}
        for j, text in lower_right.items():
            by_lower.setdefault(text, []).append(j)
        for i in lpos:
            table[i, by_lower.get(str(left[i]).lower(), [])] = True
        return
    test = _STRING_OPS[op]
    for i in lpos:
        text = str(left[i]).lower()
        for j, other in lower_right.items():
            table[i, j] = test(text, other)


def _num(value: ScalarValue) -> float:
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return float(value)  # type: ignore[arg-type]
    return float("nan")


def _type_code(value: ScalarValue) -> int:
    return {bool: 1, int: 2, float: 3}.get(type(value), 0)
