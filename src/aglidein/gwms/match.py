"""GlideinWMS match policy → ClassAd: Python `match_expr` and factory `query_expr`.

A translation is returned only when it is certain: for every job and entry that
define the referenced attributes with the types GlideinWMS declares (match_attrs,
entry attr types), the ClassAd is true exactly when the Python expression is true.
Anything else (unknown types, `.get()`, chained comparisons, other functions) comes
back untranslated with the reason, and the caller flags it with the original text.

Translated forms:
  glidein["attrs"]["X"] / job["Y"]          TARGET.X / MY.Y
  and / or / not, True / False              && / || / !, true / false
  a < b (<=, >, >=) on numbers              the same operator
  a == b, a != b on numbers or booleans     the same operator
  a == b, a != b on strings                 strcmp(a, b) == 0 / != 0 (case-sensitive, like Python)
  a in b.split(",")                         stringListMember(a, b)
  a not in b.split(",")                     !stringListMember(a, b)
  under `or` / `not`, each reference X      ifThenElse(isUndefined(X), error, X), so a
                                            missing attribute fails the whole match as
                                            the KeyError does in GlideinWMS
  a in ["x", "y"] / (1, 2)                  a matched against each constant
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aglidein.classads import ExprSyntaxError, parse_expr, quote

__all__ = [
    "AttrType",
    "Translation",
    "and_all",
    "scope_to_target",
    "translate_match_expr",
]

AttrType = Literal["str", "num", "bool", "unknown"]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    kind: AttrType
    atomic: bool = True  # needs no parentheses as an operand


def _paren(node: _Typed) -> str:
    return node.text if node.atomic else f"({node.text})"


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
        if isinstance(node, ast.BoolOp):
            op = " && " if isinstance(node.op, ast.And) else " || "
            parts = [self.boolean(value) for value in node.values]
            return _Typed(op.join(_paren(p) for p in parts), "bool", atomic=False)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return _Typed(f"!{_paren(self.boolean(node.operand))}", "bool")
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                value = self.constant(node.operand.value)
                if value.kind == "num":
                    return _Typed(f"-{value.text}", "num")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        raise _Untranslatable(f"unsupported Python: {ast.unparse(node)}")

    def boolean(self, node: ast.expr) -> _Typed:
        value = self.node(node)
        if value.kind != "bool":
            # Python's truthiness of strings and numbers has no ClassAd equivalent
            raise _Untranslatable(f"{ast.unparse(node)} is not a boolean")
        return value

    def constant(self, value: object) -> _Typed:
        if isinstance(value, bool):
            return _Typed("true" if value else "false", "bool")
        if isinstance(value, int | float):
            return _Typed(repr(value), "num")
        if isinstance(value, str):
            return _Typed(quote(value), "str")
        raise _Untranslatable(f"unsupported constant {value!r}")

    def reference(self, node: ast.Subscript) -> _Typed:
        name = _string_key(node)
        base = node.value
        if isinstance(base, ast.Name) and base.id == "job" and name:
            return self.attribute("MY", name, self.job_types)
        if (
            isinstance(base, ast.Subscript)
            and isinstance(base.value, ast.Name)
            and base.value.id == "glidein"
            and _string_key(base) == "attrs"
            and name
        ):
            return self.attribute("TARGET", name, self.glidein_types)
        raise _Untranslatable(f"unsupported reference {ast.unparse(node)}")

    def attribute(self, scope: str, name: str, types: Mapping[str, AttrType]) -> _Typed:
        if not _IDENT.fullmatch(name):
            raise _Untranslatable(f"attribute name {name!r} is not a ClassAd name")
        ref = f"{scope}.{name}"
        if self.strict:
            ref = f"ifThenElse(isUndefined({ref}), error, {ref})"
        return _Typed(ref, types.get(name.lower(), "unknown"))

    def compare(self, node: ast.Compare) -> _Typed:
        if len(node.ops) != 1:
            raise _Untranslatable(f"chained comparison {ast.unparse(node)}")
        op, right_node = node.ops[0], node.comparators[0]
        if isinstance(op, ast.In | ast.NotIn):
            return self.membership(node.left, right_node, negate=isinstance(op, ast.NotIn))
        left, right = self.node(node.left), self.node(right_node)
        where = ast.unparse(node)
        if isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
            if left.kind == right.kind == "num":
                symbol = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}[type(op)]
                return _Typed(f"{_paren(left)} {symbol} {_paren(right)}", "bool", atomic=False)
            raise _Untranslatable(f"{where}: both sides must be numbers of known type")
        if isinstance(op, ast.Eq | ast.NotEq):
            symbol = "==" if isinstance(op, ast.Eq) else "!="
            if left.kind == right.kind and left.kind in ("num", "bool"):
                return _Typed(f"{_paren(left)} {symbol} {_paren(right)}", "bool", atomic=False)
            if left.kind == right.kind == "str":
                return _Typed(f"strcmp({left.text}, {right.text}) {symbol} 0", "bool", atomic=False)
            raise _Untranslatable(f"{where}: both sides must be of the same known type")
        raise _Untranslatable(f"unsupported comparison {where}")

    def membership(self, left_node: ast.expr, right_node: ast.expr, *, negate: bool) -> _Typed:
        left = self.node(left_node)
        where = ast.unparse(right_node)
        if left.kind not in ("str", "unknown") and not isinstance(
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
            listed = self.node(right_node.func.value)
            if listed.kind not in ("str", "unknown"):
                raise _Untranslatable(f"{where}: not a string")
            member = f"stringListMember({left.text}, {listed.text})"
            if negate:
                return _Typed(f"!{member}", "bool")
            return _Typed(member, "bool")
        if isinstance(right_node, ast.List | ast.Tuple | ast.Set) and right_node.elts:
            items = [self.node(item) for item in right_node.elts]
            kinds = {item.kind for item in items}
            if len(kinds) != 1 or not all(isinstance(e, ast.Constant) for e in right_node.elts):
                raise _Untranslatable(f"{where}: only a list of constants of one type")
            kind = kinds.pop()
            if kind == "str" and left.kind in ("str", "unknown"):
                tests = [f"strcmp({left.text}, {item.text}) == 0" for item in items]
            elif kind in ("num", "bool") and left.kind == kind:
                tests = [f"{_paren(left)} == {item.text}" for item in items]
            else:
                raise _Untranslatable(f"{ast.unparse(left_node)} and {where} differ in type")
            text = " || ".join(tests)
            if negate:
                return _Typed(f"!({text})", "bool")
            return _Typed(text, "bool", atomic=len(tests) == 1)
        raise _Untranslatable(f"unsupported membership test in {where}")


def _string_key(node: ast.Subscript) -> str | None:
    key = node.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


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
    # the same under `and` and comparisons, but `or` and `not` can turn it into true;
    # there each reference is made strict (ERROR propagates exactly like the exception).
    strict = any(isinstance(n, ast.Or | ast.Not | ast.NotIn) for n in ast.walk(tree))
    try:
        result = _Translator(job_types, glidein_types, strict=strict).boolean(tree.body)
    except _Untranslatable as exc:
        return Translation(None, str(exc))
    return Translation(result.text)


# --- factory query_expr: a ClassAd on the factory's entry ad -------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>=\?=|=!=|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:(),{}.\[\]=])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"true", "false", "undefined", "error", "is", "isnt"}


def scope_to_target(text: str) -> Translation:
    """A factory query_expr with its attribute references scoped to TARGET (the entry).

    In GlideinWMS it is evaluated against the factory's entry ad; in aglidein's `match`
    the entry is TARGET. Bare names and `MY.` names become `TARGET.`; nested ads,
    record literals and `TARGET.` references (nothing to point at) are refused.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.lastgroup is None:
            return Translation(None, f"cannot read {text[pos : pos + 20]!r}")
        tokens.append((match.lastgroup, match.group()))
        pos = match.end()
    significant = [i for i, (kind, _) in enumerate(tokens) if kind != "space"]
    for rank, index in enumerate(significant):
        kind, value = tokens[index]
        before = tokens[significant[rank - 1]][1] if rank else ""
        after = tokens[significant[rank + 1]][1] if rank + 1 < len(significant) else ""
        if kind != "ident" or value.lower() in _KEYWORDS or after == "(":
            continue
        if before == ".":
            if rank < 2 or tokens[significant[rank - 2]][1].lower() not in ("my", "target"):
                return Translation(None, f"nested attribute reference .{value}")
        elif after == ".":
            if value.lower() != "my":
                return Translation(None, f"scope {value}. has no aglidein equivalent here")
            tokens[index] = (kind, "TARGET")
        elif before == "[" or after == "=":
            return Translation(None, "record literals are not supported")
        else:
            tokens[index] = (kind, f"TARGET.{value}")
    result = "".join(value for _, value in tokens).strip()
    try:
        parse_expr(result)
    except ExprSyntaxError:
        return Translation(None, "not a valid ClassAd expression")
    return Translation(result)


def and_all(parts: list[str]) -> str:
    """The conjunction of ClassAd expressions, `true` parts left out."""
    kept = [p for p in parts if p.strip().lower() != "true"]
    if not kept:
        return "true"
    if len(kept) == 1:
        return kept[0]
    return " && ".join(f"({p})" for p in kept)
