"""A small, deterministic YAML writer that keeps comments.

PyYAML cannot write comments, and the import must say where every entry came from and
which values are placeholders. Scalars are written plain only when YAML reads them back
as the same string; everything else is quoted. Map keys keep the order they are given
(callers sort), so the same input always gives the same bytes.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import TypeAlias

import yaml

__all__ = ["Commented", "Node", "dump_yaml", "plain", "yaml_scalar"]


@dataclass(frozen=True, slots=True)
class Commented:
    """A value with comment lines written just above it (its key or its `- ` item)."""

    value: Node
    comments: tuple[str, ...]


Scalar: TypeAlias = str | int | float | bool | None
Node: TypeAlias = "Scalar | list[Node] | dict[str, Node] | Commented"

_PLAIN = re.compile(r"^[A-Za-z0-9_/.][A-Za-z0-9_/.@+-]*$")
_RESOLVER = yaml.resolver.Resolver()
# What may stand unescaped inside a double-quoted scalar: YAML's printable set minus
# line breaks (\x85, \u2028, \u2029 count as breaks), tabs and the byte-order mark.
_UNSAFE = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_COMMENT_UNSAFE = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]+"
)


@functools.lru_cache(maxsize=65536)
def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and (
        _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        == "tag:yaml.org,2002:str"
    ):
        return text
    if not _UNSAFE.search(text):
        return "'" + text.replace("'", "''") + "'"
    return '"' + _UNSAFE.sub(_escape, text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def yaml_scalar(value: Scalar) -> str:
    """One scalar as YAML text that reads back as the same value and type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
            mantissa, _, exponent = text.partition("e")
            sign = "" if exponent[0] in "+-" else "+"
            text = f"{mantissa}.0e{sign}{exponent}"
        return text
    return _string(value)


def _comment_lines(comments: tuple[str, ...], indent: str) -> list[str]:
    out = []
    for comment in comments:
        for line in comment.splitlines() or [""]:
            clean = _COMMENT_UNSAFE.sub(" ", line).rstrip()
            out.append(f"{indent}# {clean}".rstrip())
    return out


def _unwrap(node: Node) -> tuple[Node, tuple[str, ...]]:
    comments: tuple[str, ...] = ()
    while isinstance(node, Commented):
        comments += node.comments
        node = node.value
    return node, comments


def _is_scalar_like(node: Node) -> bool:
    return not isinstance(node, dict | list) or not node


def _inline(node: Node) -> str:
    if isinstance(node, dict):
        return "{}"
    if isinstance(node, list):
        return "[]"
    assert not isinstance(node, Commented)
    return yaml_scalar(node)


def _write(node: Node, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(node, dict):
        for key, raw in node.items():
            value, comments = _unwrap(raw)
            out.extend(_comment_lines(comments, pad))
            if _is_scalar_like(value):
                out.append(f"{pad}{_string(key)}: {_inline(value)}")
            else:
                out.append(f"{pad}{_string(key)}:")
                _write(value, indent + 2, out)
    elif isinstance(node, list):
        for raw in node:
            value, comments = _unwrap(raw)
            out.extend(_comment_lines(comments, pad))
            if _is_scalar_like(value):
                out.append(f"{pad}- {_inline(value)}")
                continue
            start = len(out)
            _write(value, indent + 2, out)
            # the first line of the nested block moves up next to the dash
            first = start
            while out[first].lstrip().startswith("#"):
                first += 1
            out[first] = f"{pad}- {out[first][indent + 2 :]}"
    else:  # pragma: no cover - top level is always a mapping
        out.append(pad + _inline(node))


def dump_yaml(document: dict[str, Node], header: tuple[str, ...] = ()) -> str:
    """The document as YAML text, with `header` as leading comment lines."""
    out = _comment_lines(header, "")
    _write(document, 0, out)
    return "\n".join(out) + "\n"


def plain(node: Node) -> object:
    """The node without comments: what YAML reads back from dump_yaml (for tests)."""
    value, _ = _unwrap(node)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
