"""A parser for the common subset of ClassAd expressions, to a small AST (pure Python).

The subset: literals, `MY.x` / `TARGET.x` (or `other.x`, `LEFT.x`, ...) / bare references, unary and binary
operators (arithmetic, comparison, `=?=`/`=!=`/`is`/`isnt`, `&&`/`||`), `?:`, function
calls and list literals. Anything else (bit operators, nested ads, subscripts, octal or
hex numbers, unusual escapes) raises `Unsupported`: the caller then leaves the whole
expression to classad2. Every node keeps its source text, so a sub-expression can be
handed to classad2 on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aglidein.classad.facade import ERROR, UNDEFINED, Special

__all__ = [
    "Attr",
    "Binary",
    "Call",
    "Cond",
    "ListLit",
    "Lit",
    "Node",
    "Unary",
    "Unsupported",
    "parse",
]

INT64_MAX = 2**63 - 1


class Unsupported(ValueError):
    """The expression uses something outside the compiled subset."""


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal value."""

    text: str
    value: bool | int | float | str | Special


@dataclass(frozen=True, slots=True)
class Attr:
    """An attribute reference; `scope` is "my", "target" or "" (bare: MY, then TARGET)."""

    text: str
    scope: str
    name: str  # lowercased


@dataclass(frozen=True, slots=True)
class Unary:
    """`-x`, `+x`, `!x`."""

    text: str
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """`a op b` (`is`/`isnt` are normalised to `=?=`/`=!=`)."""

    text: str
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Cond:
    """`c ? a : b`."""

    text: str
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; `name` lowercased."""

    text: str
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ListLit:
    """`{a, b, ...}`."""

    text: str
    items: tuple[Node, ...]


Node = Lit | Attr | Unary | Binary | Cond | Call | ListLit

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<real>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>\d+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>=\?=|=!=|==|!=|<=|>=|&&|\|\||[<>!+\-*/%?:(),{}.])
    """,
    re.VERBOSE,
)
_KEYWORDS: dict[str, bool | Special] = {
    "true": True,
    "false": False,
    "undefined": UNDEFINED,
    "error": ERROR,
}
# The scopes of a match context (HTCondor's MatchClassAd puts `[other=.RIGHT;
# target=.RIGHT; my=.LEFT; ad=.LEFT]` around the job, LEFT, and the entry, RIGHT).
_SCOPES = {
    "my": "my",
    "ad": "my",
    "left": "my",
    "self": "my",
    "target": "target",
    "other": "target",
    "right": "target",
}
# classad2 evaluates what follows these calls in the context they leave behind (a bare
# name after countMatches() no longer reaches TARGET): only the whole expression is exact.
_CONTEXT_FUNCTIONS = frozenset({"countmatches", "evalineachcontext"})
_EQUALITY = {"==", "!=", "=?=", "=!=", "is", "isnt"}
_RELATIONAL = {"<", "<=", ">", ">="}
_ESCAPES = {'"': '"', "\\": "\\"}

Token = tuple[str, str, int, int]  # kind, text, start, end


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise Unsupported(f"unsupported character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append((kind, match.group(), match.start(), match.end()))
        pos = match.end()
    out.append(("end", "", len(text), len(text)))
    return out


def _string_value(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = _ESCAPES.get(body[i + 1])
            if escaped is None:
                raise Unsupported("string escape outside the subset")
            out.append(escaped)
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> Token:
        return self.toks[self.pos]

    def take(self) -> Token:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, text: str) -> Token:
        tok = self.take()
        if tok[1] != text:
            raise Unsupported(f"expected {text!r} at {tok[2]}")
        return tok

    def span(self, start: int) -> str:
        return self.text[start : self.toks[self.pos - 1][3]]

    def word(self) -> str:
        kind, text, _, _ = self.peek()
        if kind == "name" and text.lower() in ("is", "isnt"):
            return text.lower()
        return text if kind == "op" else ""

    def expr(self) -> Node:
        start = self.peek()[2]
        cond = self.binary(0)
        if self.word() != "?":
            return cond
        self.take()
        then = self.expr()
        self.expect(":")
        other = self.expr()
        return Cond(self.span(start), cond, then, other)

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        frozenset(_EQUALITY),
        frozenset(_RELATIONAL),
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        start = self.peek()[2]
        left = self.binary(level + 1)
        while self.word() in self._LEVELS[level]:
            op = self.word()
            self.take()
            right = self.binary(level + 1)
            op = {"is": "=?=", "isnt": "=!="}.get(op, op)
            left = Binary(self.span(start), op, left, right)
        return left

    def unary(self) -> Node:
        start = self.peek()[2]
        if self.word() in ("-", "+", "!"):
            op = self.take()[1]
            operand = self.unary()
            return Unary(self.span(start), op, operand)
        return self.primary()

    def primary(self) -> Node:
        kind, text, start, _ = self.take()
        if kind == "int":
            if len(text) > 1 and text[0] == "0":
                raise Unsupported("octal literal")
            value = int(text)
            if value > INT64_MAX:
                raise Unsupported("integer literal out of range")
            return Lit(text, value)
        if kind == "real":
            return Lit(text, float(text))
        if kind == "string":
            return Lit(text, _string_value(text))
        if kind == "name":
            return self.name(text, start)
        if text == "(":
            inner = self.expr()
            self.expect(")")
            return _with_text(inner, self.span(start))
        if text == "{":
            items = self.arguments("}")
            return ListLit(self.span(start), items)
        raise Unsupported(f"unexpected {text or 'end'!r} at {start}")

    def name(self, text: str, start: int) -> Node:
        lower = text.lower()
        if self.word() == "(":
            if lower in _CONTEXT_FUNCTIONS:
                raise Unsupported(f"{text}() changes the evaluation context")
            self.take()
            args = self.arguments(")")
            return Call(self.span(start), lower, args)
        if self.word() == ".":
            scope = _SCOPES.get(lower)
            if scope is None:
                raise Unsupported(f"scope {text!r}")
            self.take()
            kind, attr, _, _ = self.take()
            if kind != "name" or self.word() in (".", "(") or attr.lower() in _KEYWORDS:
                raise Unsupported("nested attribute reference")
            return Attr(self.span(start), scope, attr.lower())
        if lower in _KEYWORDS:
            return Lit(text, _KEYWORDS[lower])
        if lower in _SCOPES or lower in ("is", "isnt", "parent", "root"):
            raise Unsupported(f"bare {text!r}")
        return Attr(text, "", lower)

    def arguments(self, close: str) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.word() == close:
            self.take()
            return ()
        while True:
            args.append(self.expr())
            tok = self.take()
            if tok[1] == close:
                return tuple(args)
            if tok[1] != ",":
                raise Unsupported(f"expected ',' or {close!r} at {tok[2]}")


def _with_text(node: Node, text: str) -> Node:
    """The same node, with its parenthesised source text (for a standalone fallback)."""
    if isinstance(node, Lit):
        return Lit(text, node.value)
    if isinstance(node, Attr):
        return Attr(text, node.scope, node.name)
    if isinstance(node, Unary):
        return Unary(text, node.op, node.operand)
    if isinstance(node, Binary):
        return Binary(text, node.op, node.left, node.right)
    if isinstance(node, Cond):
        return Cond(text, node.cond, node.then, node.other)
    if isinstance(node, Call):
        return Call(text, node.name, node.args)
    return ListLit(text, node.items)


def parse(text: str) -> Node:
    """The AST of `text`, or `Unsupported` when it leaves the subset."""
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek()[0] != "end":
        raise Unsupported(f"trailing text at {parser.peek()[2]}")
    return node
