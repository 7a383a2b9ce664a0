"""Compile ClassAd expressions of the common subset to Python closures, exactly as classad2.

A compiled expression takes two plain ads (lowercased attribute name → scalar; a missing
name or None is UNDEFINED) as MY and TARGET. Semantics follow classad2 (checked by the
hypothesis oracle test): UNDEFINED/ERROR propagation, case-insensitive `==` and `<` on
strings, case-sensitive `=?=`, int/real promotion, 64-bit integer wrap-around, and the
truth rules of `&&`, `||`, `?:`. What the subset does not cover is evaluated by classad2:
an unknown function is handed over alone, an unsupported operator hands over the whole
expression, and rare corner cases (real division by zero, non-finite reals) hand over the
whole evaluation at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from aglidein.classad.facade import ERROR, UNDEFINED, parse_expr
from aglidein.classad.funcs import compile_call
from aglidein.classad.ops import (
    MIN64,
    Ad,
    Evaluator,
    Fallback,
    Value,
    arith,
    choose,
    compare,
    identical,
    truth,
    truthy,
)
from aglidein.classad.parse import (
    Attr,
    Binary,
    Call,
    Cond,
    ListLit,
    Lit,
    Node,
    Unary,
    Unsupported,
    parse,
)

__all__ = ["Ad", "CompiledExpr", "Evaluator", "Value", "compile_expr", "conjuncts", "truthy"]


def _lookup(scope: str, name: str) -> Evaluator:
    def from_my(my: Ad, target: Ad) -> Value:
        value = my.get(name)
        return UNDEFINED if value is None else value

    def from_target(my: Ad, target: Ad) -> Value:
        value = target.get(name)
        return UNDEFINED if value is None else value

    def bare(my: Ad, target: Ad) -> Value:
        value = my.get(name)
        if value is None:
            value = target.get(name)
        return UNDEFINED if value is None else value

    return {"my": from_my, "target": from_target}.get(scope, bare)


def _and(left: Evaluator, right: Evaluator) -> Evaluator:
    def run(my: Ad, target: Ad) -> Value:
        a = truth(left(my, target))
        if a is ERROR or a is False:
            return a
        b = truth(right(my, target))
        if a is True:
            return b
        return b if b is False or b is ERROR else UNDEFINED

    return run


def _or(left: Evaluator, right: Evaluator) -> Evaluator:
    def run(my: Ad, target: Ad) -> Value:
        a = truth(left(my, target))
        if a is ERROR or a is True:
            return a
        b = truth(right(my, target))
        if a is False:
            return b
        return b if b is True or b is ERROR else UNDEFINED

    return run


def _unary(op: str, operand: Evaluator) -> Evaluator:
    def run(my: Ad, target: Ad) -> Value:
        value = operand(my, target)
        if op == "!":
            t = truth(value)
            return (not t) if type(t) is bool else t
        if value is ERROR or value is UNDEFINED:
            return value
        kind = type(value)
        if kind is int:
            if op == "+":
                return value
            if value == MIN64:
                raise Fallback
            return -value  # type: ignore[operator]
        if kind is float:
            return value if op == "+" else -value  # type: ignore[operator]
        return ERROR

    return run


def _binary(node: Binary) -> Evaluator:
    op = node.op
    left, right = _compile(node.left), _compile(node.right)
    if op == "&&":
        return _and(left, right)
    if op == "||":
        return _or(left, right)
    if op in ("=?=", "=!="):
        same = op == "=?="
        return lambda my, tg: identical(left(my, tg), right(my, tg)) is same
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return lambda my, tg: compare(op, left(my, tg), right(my, tg))
    return lambda my, tg: arith(op, left(my, tg), right(my, tg))


def _compile(node: Node) -> Evaluator:
    if isinstance(node, Lit):
        value = node.value
        return lambda my, tg: value
    if isinstance(node, Attr):
        return _lookup(node.scope, node.name)
    if isinstance(node, Unary):
        return _unary(node.op, _compile(node.operand))
    if isinstance(node, Binary):
        return _binary(node)
    if isinstance(node, Cond):
        return choose(_compile(node.cond), _compile(node.then), _compile(node.other))
    if isinstance(node, Call):
        return _call(node)
    raise Unsupported("a list outside member()")


def _call(node: Call) -> Evaluator:
    compiled = compile_call(node, _compile)
    return compiled if compiled is not None else _classad2(node.text)


def _plain(ad: Ad) -> dict[str, str | int | float | bool]:
    return {name: value for name, value in ad.items() if value is not None}


def _classad2(text: str) -> Evaluator:
    """Evaluate `text` with classad2 (outside the subset)."""
    expr = parse_expr(text)

    def run(my: Ad, target: Ad) -> Value:
        value = expr.evaluate(_plain(my), _plain(target))
        if isinstance(value, list | dict):
            raise Fallback  # a list or ad flowing into compiled code: let classad2 do all
        return value

    return run


@dataclass(frozen=True, slots=True)
class CompiledExpr:
    """An expression ready to evaluate; `compiled` is False when classad2 does it all."""

    text: str
    tree: Node | None
    my_refs: frozenset[str]  # lowercased; bare names count for both sides
    target_refs: frozenset[str]
    compiled: bool
    _run: Evaluator

    def evaluate(self, my: Ad, target: Ad) -> Value:
        """The value with `my` as MY and `target` as TARGET (lowercased names)."""
        try:
            return self._run(my, target)
        except Fallback:
            return _whole_classad2(self.text)(my, target)


_WHOLE: dict[str, Evaluator] = {}


def _whole_classad2(text: str) -> Evaluator:
    runner = _WHOLE.get(text)
    if runner is None:
        expr = parse_expr(text)

        def runner(my: Ad, target: Ad) -> Value:
            value = expr.evaluate(_plain(my), _plain(target))
            return ERROR if isinstance(value, list | dict) else value

        _WHOLE[text] = runner
    return runner


def _refs(node: Node, my: set[str], target: set[str]) -> None:
    if isinstance(node, Attr):
        if node.scope in ("my", ""):
            my.add(node.name)
        if node.scope in ("target", ""):
            target.add(node.name)
    elif isinstance(node, Unary):
        _refs(node.operand, my, target)
    elif isinstance(node, Binary):
        _refs(node.left, my, target)
        _refs(node.right, my, target)
    elif isinstance(node, Cond):
        for child in (node.cond, node.then, node.other):
            _refs(child, my, target)
    elif isinstance(node, Call | ListLit):
        for child in node.args if isinstance(node, Call) else node.items:
            _refs(child, my, target)


def compile_expr(text: str) -> CompiledExpr:
    """Compile `text` (already known to parse with classad2)."""
    try:
        tree = parse(text)
        run = _compile(tree)
    except Unsupported:
        mine, theirs = parse_expr(text).references()
        bare_my = {n.lower() for n in mine if n}
        return CompiledExpr(
            text=text,
            tree=None,
            my_refs=frozenset(bare_my),
            target_refs=frozenset(bare_my | {n.lower() for n in theirs if n}),
            compiled=False,
            _run=_whole_classad2(text),
        )
    my_refs: set[str] = set()
    target_refs: set[str] = set()
    _refs(tree, my_refs, target_refs)
    return CompiledExpr(text, tree, frozenset(my_refs), frozenset(target_refs), True, run)


def conjuncts(expr: CompiledExpr) -> list[CompiledExpr]:
    """The top-level `&&` operands of `expr` (itself when it is not a conjunction)."""
    if expr.tree is None:
        return [expr]
    parts: list[Node] = []
    stack: list[Node] = [expr.tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Binary) and node.op == "&&":
            stack.append(node.right)
            stack.append(node.left)
        else:
            parts.append(node)
    if len(parts) == 1:
        return [expr]
    return [compile_expr(part.text) for part in parts]
