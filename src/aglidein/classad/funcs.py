"""Compiled ClassAd functions: the ones match expressions use, with classad2's semantics.

`compile_call` returns None for a function (or a use of one) outside the subset; the
caller then evaluates that call with classad2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from aglidein.classad.facade import ERROR, UNDEFINED
from aglidein.classad.ops import (
    DEFAULT_DELIMITERS,
    SAFE_REGEX,
    STRING_LIST_SPACE,
    Ad,
    Evaluator,
    Fallback,
    Value,
    ascii_lower,
    choose,
    compare,
)
from aglidein.classad.parse import Call, ListLit, Lit, Node

__all__ = ["compile_call", "string_list_items"]

_TYPE_TESTS: dict[str, Callable[[Value], bool]] = {
    "isundefined": lambda v: v is UNDEFINED,
    "iserror": lambda v: v is ERROR,
    "isstring": lambda v: type(v) is str,
    "isinteger": lambda v: type(v) is int,
    "isreal": lambda v: type(v) is float,
    "isboolean": lambda v: type(v) is bool,
}


def _error(my: Ad, target: Ad) -> Value:
    return ERROR


def string_list_items(text: str, delimiters: str = DEFAULT_DELIMITERS) -> list[str]:
    """The items of a ClassAd string list: split on any delimiter, trimmed, empties skipped.

    As HTCondor's StringTokenIterator: the delimiters are exact characters, trimming is
    C isspace() only (NBSP or an em space stay inside an item).
    """
    if delimiters == DEFAULT_DELIMITERS and text.isascii() and not _odd_space(text):
        # ", \t\r\n" are then all the whitespace str.split() knows, and no item can
        # keep a \v or \f to trim: the same items, without a regex
        return text.replace(",", " ").split()
    items = _splitter(delimiters).split(text)
    return [s for s in (item.strip(STRING_LIST_SPACE) for item in items) if s]


def _odd_space(text: str) -> bool:
    """Whether ASCII `text` holds whitespace str.split() splits on beyond " \t\r\n"."""
    return (
        "\v" in text
        or "\f" in text
        or "\x1c" in text
        or "\x1d" in text
        or "\x1e" in text
        or "\x1f" in text
    )


@lru_cache(maxsize=64)
def _splitter(delimiters: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape(delimiters) + "]")


def _string_list_member(args: list[Evaluator], fold: bool) -> Evaluator:
    needle_fn, list_fn = args[0], args[1]
    delim_fn = args[2] if len(args) == 3 else None

    def run(my: Ad, target: Ad) -> Value:
        needle = needle_fn(my, target)
        items = list_fn(my, target)
        delim: Value = delim_fn(my, target) if delim_fn is not None else UNDEFINED
        if needle is ERROR or items is ERROR or delim is ERROR:
            return ERROR
        if delim is UNDEFINED:
            delimiters = DEFAULT_DELIMITERS
        elif type(delim) is str and delim:
            delimiters = delim
        elif type(delim) is str:
            raise Fallback
        else:
            return ERROR
        if needle is UNDEFINED and items is UNDEFINED:
            return UNDEFINED
        if needle is UNDEFINED:
            return False if type(items) is str else ERROR
        if items is UNDEFINED:
            return False if type(needle) is str else ERROR
        if type(needle) is not str or type(items) is not str:
            return ERROR
        members = string_list_items(items, delimiters)
        if fold:
            lowered = ascii_lower(needle)
            return any(ascii_lower(m) == lowered for m in members)
        return needle in members

    return run


def _member(needle_fn: Evaluator, items: list[Evaluator]) -> Evaluator:
    def run(my: Ad, target: Ad) -> Value:
        needle = needle_fn(my, target)
        if needle is ERROR or needle is UNDEFINED:
            return needle
        return any(compare("==", needle, item(my, target)) is True for item in items)

    return run


def _as_text(value: Value) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    raise Fallback  # reals print in classad2's own format


def _strcmp(left: Evaluator, right: Evaluator, fold: bool) -> Evaluator:
    def run(my: Ad, target: Ad) -> Value:
        a, b = left(my, target), right(my, target)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        if a is ERROR or b is ERROR:
            return ERROR
        x, y = _as_text(a), _as_text(b)
        if fold:
            x, y = ascii_lower(x), ascii_lower(y)
        return (x > y) - (x < y)

    return run


def _regexp(node: Call, target_fn: Evaluator) -> Evaluator | None:
    pattern = node.args[0]
    if not isinstance(pattern, Lit) or type(pattern.value) is not str:
        return None
    if not SAFE_REGEX.match(pattern.value) or "(?" in pattern.value:
        return None
    flags = 0
    if len(node.args) == 3:
        options = node.args[2]
        if not isinstance(options, Lit) or options.value != "i":
            return None
        flags = re.IGNORECASE
    try:
        regex = re.compile(pattern.value, flags)
    except re.error:
        return None
    if not pattern.value.isascii():
        return None

    def run(my: Ad, target: Ad) -> Value:
        subject = target_fn(my, target)
        if subject is ERROR or subject is UNDEFINED:
            return subject
        if type(subject) is not str:
            return ERROR
        if not subject.isascii():
            raise Fallback
        return regex.search(subject) is not None

    return run


def compile_call(node: Call, compile_node: Callable[[Node], Evaluator]) -> Evaluator | None:
    """The compiled call, or None to leave it to classad2."""
    name, arity = node.name, len(node.args)
    if name in _TYPE_TESTS:
        if arity != 1:
            return _error
        test, arg = _TYPE_TESTS[name], compile_node(node.args[0])
        return lambda my, tg: test(arg(my, tg))
    if name == "ifthenelse":
        if arity != 3:
            return _error
        cond, then, other = (compile_node(a) for a in node.args)
        return choose(cond, then, other)
    if name in ("stringlistmember", "stringlistimember"):
        if arity not in (2, 3):
            return None
        return _string_list_member(
            [compile_node(a) for a in node.args], fold=name == "stringlistimember"
        )
    if name == "member":
        if arity != 2 or not isinstance(node.args[1], ListLit):
            return None
        return _member(compile_node(node.args[0]), [compile_node(i) for i in node.args[1].items])
    if name in ("strcmp", "stricmp"):
        if arity != 2:
            return _error
        left, right = compile_node(node.args[0]), compile_node(node.args[1])
        return _strcmp(left, right, fold=name == "stricmp")
    if name == "regexp" and arity in (2, 3):
        return _regexp(node, compile_node(node.args[1]))
    return None
