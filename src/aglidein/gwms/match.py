"""GlideinWMS match policy → ClassAd: the frontend's Python `match_expr` (the
factory's `query_expr`: gwms/query_expr.py).

A translation is returned only when it is certain: for every job and entry that
define the referenced attributes with the types GlideinWMS declares (match_attrs,
entry attr types), the ClassAd is true exactly when the Python expression is true
(tests check it against Python on generated ads, with classad2 as the evaluator).
Anything else (unknown types, chained comparisons, other functions) comes back
untranslated with the reason, and the caller flags it with the original text.

Translated forms (R is a reference, U "R is missing"):
  glidein["attrs"]["X"] / job["Y"]          TARGET.X / MY.Y (a KeyError when missing)
  glidein["attrs"].get("X") / job.get("Y")  the same, None when missing
  ....get("X", d)                           ifThenElse(isUndefined(R), d, R)
  and / or / not, True / False / None       && / || / !, true / false / undefined
  a < b (<=, >, >=) on numbers              the same operator (None: a TypeError)
  a == b, a != b on numbers or booleans     the same operator
  a == b, a != b on strings                 strcmp(a, b) == 0 / != 0 (case-sensitive, like Python)
  a == b with None possible                 None == None, None != anything else
  a is None, a is not None                  isUndefined(a), !isUndefined(a)
  a in b.split(",")                         identicalMember(a, split(b, ",")) (case and
                                            blanks kept, like Python; "" tested on its own
                                            as split() drops empty end pieces), evaluated
                                            only where the compiled stringListMember(a, b,
                                            ",") cannot already tell it is false
  a not in b.split(",")                     the negation
  a boolean .get() alone                    a =?= true (None is falsy)
  under `or` / `not` / `!=` / `not in`,     ifThenElse(isUndefined(X), error, X), so a
  each [] reference X                       missing attribute fails the whole match as
                                            the KeyError does in GlideinWMS
  a in ["x", "y"] / (1, 2)                  a matched against each constant
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from aglidein.classad.facade import quote

__all__ = ["AttrType", "Translation", "translate_match_expr"]

AttrType = Literal["str", "num", "bool", "unknown"]
_Kind = Literal["str", "num", "bool", "unknown", "none"]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMPTY_PIECE = quote("^$|^,|,,|,$")  # a comma list whose split(",") holds ""


@dataclass(frozen=True, slots=True)
class Translation:
    """A ClassAd expression, or None with the reason it could not be translated."""

    expr: str | None
    problem: str | None = None


class _Untranslatable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Typed:
    text: str
    kind: _Kind
    atomic: bool = True  # needs no parentheses as an operand
    nullable: bool = False  # may be UNDEFINED, meaning Python's None
    fallible: bool = False  # may be ERROR, meaning a Python exception
    constant: bool = False


def _paren(node: _Typed) -> str:
    return node.text if node.atomic else f"({node.text})"


def _same_kind(left: _Typed, right: _Typed) -> _Kind | None:
    """The common kind of two operands (None is compatible with any), or None."""
    kinds = {left.kind, right.kind} - {"none"}
    if not kinds:
        return "none"
    if len(kinds) == 1:
        return kinds.pop()
    return None


def _guard(result: str, operands: tuple[_Typed, ...]) -> str:
    """`result`, but ERROR when an operand that may fail fails (as the exception would)."""
    failing = [f"isError({o.text})" for o in operands if o.fallible]
    if not failing:
        return result
    return f"ifThenElse({' || '.join(failing)}, error, {result})"


class _Translator:
    def __init__(
        self,
        job_types: Mapping[str, AttrType],
        glidein_types: Mapping[str, AttrType],
        *,
        strict: bool,
    ) -> None:
        self.job_types = {k.lower(): v for k, v in job_types.items()}
        self.glidein_types = {k.lower(): v for k, v in glidein_types.items()}
        self.strict = strict

    def node(self, node: ast.expr) -> _Typed:
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.Subscript):
            return self.reference(node)
        if isinstance(node, ast.Call):
            return self.get_call(node)
        if isinstance(node, ast.BoolOp):
            op = " && " if isinstance(node.op, ast.And) else " || "
            parts = [self.boolean(value) for value in node.values]
            fallible = any(p.fallible for p in parts)
            return _Typed(
                op.join(_paren(p) for p in parts), "bool", atomic=False, fallible=fallible
            )
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                operand = self.boolean(node.operand)
                return _Typed(f"!{_paren(operand)}", "bool", fallible=operand.fallible)
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                value = self.constant(node.operand.value)
                if value.kind == "num":
                    return replace(value, text=f"-{value.text}")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        raise _Untranslatable(f"unsupported Python: {ast.unparse(node)}")

    def boolean(self, node: ast.expr) -> _Typed:
        value = self.node(node)
        if value.kind != "bool":
            # Python's truthiness of strings and numbers has no ClassAd equivalent
            raise _Untranslatable(f"{ast.unparse(node)} is not a boolean")
        if value.nullable:  # None is falsy
            return _Typed(f"{_paren(value)} =?= true", "bool", atomic=False)
        return value

    def constant(self, value: object) -> _Typed:
        if value is None:
            return _Typed("undefined", "none", nullable=True, constant=True)
        if isinstance(value, bool):
            return _Typed("true" if value else "false", "bool", constant=True)
        if isinstance(value, int | float):
            return _Typed(repr(value), "num", constant=True)
        if isinstance(value, str):
            return _Typed(quote(value), "str", constant=True)
        raise _Untranslatable(f"unsupported constant {value!r}")

    def scope_of(self, base: ast.expr) -> tuple[str, Mapping[str, AttrType]] | None:
        """`job` → MY, `glidein["attrs"]` → TARGET; None for anything else."""
        if isinstance(base, ast.Name) and base.id == "job":
            return "MY", self.job_types
        if (
            isinstance(base, ast.Subscript)
            and isinstance(base.value, ast.Name)
            and base.value.id == "glidein"
            and _string_key(base) == "attrs"
        ):
            return "TARGET", self.glidein_types
        return None

    def reference(self, node: ast.Subscript) -> _Typed:
        name = _string_key(node)
        scope = self.scope_of(node.value)
        if scope is None or not name:
            raise _Untranslatable(f"unsupported reference {ast.unparse(node)}")
        ref = self.attribute(scope[0], name, scope[1])
        if self.strict:
            text = f"ifThenElse(isUndefined({ref.text}), error, {ref.text})"
            return replace(ref, text=text, fallible=True)
        return ref

    def get_call(self, node: ast.Call) -> _Typed:
        """`job.get("X")`, `glidein["attrs"].get("X", default)`."""
        func = node.func
        scope = self.scope_of(func.value) if isinstance(func, ast.Attribute) else None
        if (
            scope is None
            or not isinstance(func, ast.Attribute)
            or func.attr != "get"
            or node.keywords
            or not 1 <= len(node.args) <= 2
            or not isinstance(node.args[0], ast.Constant)
            or not isinstance(node.args[0].value, str)
        ):
            raise _Untranslatable(f"unsupported call {ast.unparse(node)}")
        ref = self.attribute(scope[0], node.args[0].value, scope[1])
        if len(node.args) == 1:
            return replace(ref, nullable=True)
        default = self.node(node.args[1])
        if not default.constant:
            raise _Untranslatable(f"{ast.unparse(node)}: the default must be a constant")
        if default.kind == "none":
            return replace(ref, nullable=True)
        if ref.kind not in (default.kind, "unknown"):
            raise _Untranslatable(f"{ast.unparse(node)}: the default is not a {ref.kind}")
        text = f"ifThenElse(isUndefined({ref.text}), {default.text}, {ref.text})"
        return _Typed(text, ref.kind)

    def attribute(self, scope: str, name: str, types: Mapping[str, AttrType]) -> _Typed:
        if not _IDENT.fullmatch(name):
            raise _Untranslatable(f"attribute name {name!r} is not a ClassAd name")
        return _Typed(f"{scope}.{name}", types.get(name.lower(), "unknown"))

    def compare(self, node: ast.Compare) -> _Typed:
        if len(node.ops) != 1:
            raise _Untranslatable(f"chained comparison {ast.unparse(node)}")
        op, right_node = node.ops[0], node.comparators[0]
        if isinstance(op, ast.In | ast.NotIn):
            return self.membership(node.left, right_node, negate=isinstance(op, ast.NotIn))
        left, right = self.node(node.left), self.node(right_node)
        where = ast.unparse(node)
        if isinstance(op, ast.Is | ast.IsNot):
            if right.kind != "none":
                raise _Untranslatable(f"{where}: `is` only with None")
            test = f"isUndefined({left.text})" if left.nullable else "false"
            if isinstance(op, ast.IsNot):
                test = f"!{test}" if left.nullable else "true"
            return _Typed(_guard(test, (left,)), "bool", fallible=left.fallible)
        if isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
            if left.kind == right.kind == "num":
                left, right = _no_none(left), _no_none(right)
                symbol = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}[type(op)]
                text = f"{_paren(left)} {symbol} {_paren(right)}"
                fallible = left.fallible or right.fallible
                return _Typed(text, "bool", atomic=False, fallible=fallible)
            raise _Untranslatable(f"{where}: both sides must be numbers of known type")
        if isinstance(op, ast.Eq | ast.NotEq):
            equal = self.equality(left, right, where)
            if isinstance(op, ast.Eq):
                return equal
            return _Typed(f"!{_paren(equal)}", "bool", fallible=equal.fallible)
        raise _Untranslatable(f"unsupported comparison {where}")

    def equality(self, left: _Typed, right: _Typed, where: str) -> _Typed:
        """`left == right` as Python sees it, None included."""
        kind = _same_kind(left, right)
        if kind in ("num", "bool"):
            compared = f"{_paren(left)} == {_paren(right)}"
        elif kind == "str":
            compared = f"strcmp({left.text}, {right.text}) == 0"
        elif kind == "none":
            compared = "true"
        else:
            raise _Untranslatable(f"{where}: both sides must be of the same known type")
        fallible = left.fallible or right.fallible
        nullable = [o for o in (left, right) if o.nullable]
        if not nullable:
            return _Typed(compared, "bool", atomic=False, fallible=fallible)
        # None == None; None == anything else is False (no TypeError in Python)
        missing = " || ".join(f"isUndefined({o.text})" for o in nullable)
        both = " && ".join(f"isUndefined({o.text})" for o in nullable)
        if len(nullable) == 1:  # the other side is never None
            both = "false"
        text = f"ifThenElse({missing}, {both}, {compared})"
        return _Typed(_guard(text, (left, right)), "bool", fallible=fallible)

    def membership(self, left_node: ast.expr, right_node: ast.expr, *, negate: bool) -> _Typed:
        left = self.node(left_node)
        where = ast.unparse(right_node)
        if left.kind not in ("str", "unknown", "none") and not isinstance(
            right_node, ast.List | ast.Tuple | ast.Set
        ):
            raise _Untranslatable(f"{ast.unparse(left_node)} is not a string")
        if (
            isinstance(right_node, ast.Call)
            and isinstance(right_node.func, ast.Attribute)
            and right_node.func.attr == "split"
            and len(right_node.args) == 1
            and not right_node.keywords
            and isinstance(right_node.args[0], ast.Constant)
            and right_node.args[0].value == ","
        ):
            return self.comma_list(left, self.node(right_node.func.value), where, negate)
        if isinstance(right_node, ast.List | ast.Tuple | ast.Set) and right_node.elts:
            return self.constant_list(left, left_node, right_node, negate)
        raise _Untranslatable(f"unsupported membership test in {where}")

    def comma_list(self, left: _Typed, listed: _Typed, where: str, negate: bool) -> _Typed:
        """`left in listed.split(",")`, exactly: case, blanks and empty pieces kept."""
        if listed.kind not in ("str", "unknown"):
            raise _Untranslatable(f"{where}: not a string")
        listed = _no_none(listed)  # None.split is an AttributeError
        exact = f'identicalMember({left.text}, split({listed.text}, ","))'
        if not (left.constant and left.text != '""'):
            # ClassAd split() drops empty pieces at the ends; Python keeps them
            empty = f"regexp({_EMPTY_PIECE}, {listed.text})"
            exact = f'ifThenElse({left.text} =?= "", {empty}, {exact})'
        # stringListMember (compiled by aglidein.core, unlike split()) trims blanks and
        # skips empty pieces. When it says no and the needle is clean (non-empty, no
        # comma, no blank at either end: it is a member of itself), Python says no too;
        # a yes, or an unclean needle, is decided exactly.
        fast = f'stringListMember({left.text}, {listed.text}, ",")'
        clean = f'stringListMember({left.text}, {left.text}, ",")'
        member = f"ifThenElse({fast}, {exact}, ifThenElse({clean}, false, {exact}))"
        if left.nullable:  # None in [...] is False
            member = f"ifThenElse(isUndefined({left.text}), false, {member})"
        text = _guard(member, (left, listed))
        if negate:
            text = f"!{text}"
        return _Typed(text, "bool", fallible=left.fallible or listed.fallible)

    def constant_list(
        self,
        left: _Typed,
        left_node: ast.expr,
        right_node: ast.List | ast.Tuple | ast.Set,
        negate: bool,
    ) -> _Typed:
        """`left in ["x", "y"]`: one equality per constant."""
        where = ast.unparse(right_node)
        items = [self.node(item) for item in right_node.elts]
        kinds = {item.kind for item in items}
        if len(kinds) != 1 or not all(item.constant for item in items):
            raise _Untranslatable(f"{where}: only a list of constants of one type")
        kind = kinds.pop()
        if kind == "none" or (left.kind not in (kind, "unknown", "none")):
            raise _Untranslatable(f"{ast.unparse(left_node)} and {where} differ in type")
        if left.kind == "unknown" and kind != "str":
            raise _Untranslatable(f"{ast.unparse(left_node)} and {where} differ in type")
        tests = [self.equality(left, item, where) for item in items]
        text = " || ".join(_paren(t) for t in tests)
        if negate:
            text = f"!({text})"
        fallible = left.fallible
        return _Typed(text, "bool", atomic=negate or len(tests) == 1, fallible=fallible)


def _no_none(node: _Typed) -> _Typed:
    """A nullable operand where Python would raise on None: UNDEFINED becomes ERROR."""
    if not node.nullable:
        return node
    text = f"ifThenElse(isUndefined({node.text}), error, {node.text})"
    return replace(node, text=text, nullable=False, fallible=True, atomic=True)


def _string_key(node: ast.Subscript) -> str | None:
    key = node.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


_NEGATING = (ast.Or, ast.Not, ast.NotIn, ast.NotEq, ast.IsNot)
_BOOLEAN = (ast.Compare, ast.BoolOp, ast.UnaryOp)


def _negates(node: ast.AST) -> bool:
    """Can this node turn a false that stands for a KeyError into true?"""
    if isinstance(node, _NEGATING):
        return True
    # `(a in b) == False` compares a truth value: the same as `not`
    return isinstance(node, ast.Compare) and any(
        isinstance(operand, _BOOLEAN) for operand in (node.left, *node.comparators)
    )


def translate_match_expr(
    text: str,
    job_types: Mapping[str, AttrType],
    glidein_types: Mapping[str, AttrType],
) -> Translation:
    """Translate one GlideinWMS Python match_expr, or say why it cannot be."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        return Translation(None, f"not valid Python: {exc.msg}")
    # A missing attribute is a KeyError in Python: the whole match fails. UNDEFINED does
    # the same under `and` and comparisons, but `or` and negations can turn it into true;
    # there each [] reference is made strict (ERROR propagates exactly like the exception).
    strict = any(_negates(n) for n in ast.walk(tree))
    try:
        result = _Translator(job_types, glidein_types, strict=strict).boolean(tree.body)
    except _Untranslatable as exc:
        return Translation(None, str(exc))
    return Translation(result.text)
