"""The configuration reference (README) generated from the config models, with each key's
explanation taken from the comments of `conf/aglidein.example.yaml`."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from aglidein.config import Config
from aglidein.units import format_duration, format_size

__all__ = ["example_comments", "reference_markdown"]

_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<dash>- )?(?P<key>[A-Za-z_][\w]*):(?P<rest>.*)$")


def example_comments(text: str) -> dict[str, str]:
    """Dotted key path (`groups[].limits.max_idle`) -> its comment: the one on its line, or
    the comment lines right above it."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = _KEY_LINE.match(line)
        if not match:
            above = []
            continue
        indent = len(match.group("indent"))
        key = match.group("key")
        if match.group("dash"):
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else ""
            stack.append((indent, parent + "[]"))
            indent += 2
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        path = f"{parent}.{key}" if parent else key
        stack.append((indent, path))
        rest = match.group("rest")
        comment = ""
        if "#" in rest and not _in_quotes(rest, rest.index("#")):
            comment = rest[rest.index("#") + 1 :].strip()
        if not comment and above and indent > 0:
            comment = " ".join(above)
        if comment and path not in out:
            out[path] = comment
        above = []
    return out


def _in_quotes(text: str, pos: int) -> bool:
    return text[:pos].count("'") % 2 == 1 or text[:pos].count('"') % 2 == 1


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for item in meta:
            func = getattr(item, "func", None)
            if getattr(func, "__name__", "") == "parse_duration":
                return "duration"
            if getattr(func, "__name__", "") == "parse_size":
                return "size"
            if getattr(func, "__name__", "") == "<lambda>":
                return "ClassAd expression"
        return _type_name(base)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        optional = type(None) in typing.get_args(annotation)
        return " | ".join(names) + (" | null" if optional else "")
    if origin is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"list of {_type_name(item)}"
    if origin is dict:
        return "map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "map"
    return getattr(annotation, "__name__", str(annotation))


def _metadata_type(metadata: list[Any]) -> str | None:
    for item in metadata:
        name = getattr(getattr(item, "func", None), "__name__", "")
        if name in ("parse_duration", "parse_size"):
            return name.removeprefix("parse_")
        if name == "<lambda>":
            return "ClassAd expression"
    return None


def _default(field: Any, type_name: str) -> str:
    if field.is_required():
        return "*required*"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "(see below)"
    if type_name.startswith("duration") and isinstance(value, int | float):
        return f"`{format_duration(value)}`"
    if type_name.startswith("size") and isinstance(value, int):
        return f"`{format_size(value)}`"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _model_of(arg)
        if inner is not None:
            return inner
    return None


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str]]:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        type_name = _metadata_type(field.metadata) or _type_name(field.annotation)
        yield path, type_name, _default(field, type_name)
        nested = _model_of(field.annotation)
        if nested is not None:
            origin = typing.get_origin(field.annotation)
            suffix = "[]" if origin is list else ".*" if origin is dict else ""
            yield from _rows(nested, path + suffix)


def _factory_twin(path: str) -> str:
    for section in ("submit", "glidein"):
        if path.startswith(f"entries[].{section}."):
            return "factory." + path.removeprefix("entries[].")
    return path


def _any_key(comments: dict[str, str], path: str) -> str:
    """The comment of `a.*.b` from the example's `a.main.b` (a map keyed by name)."""
    if "*" not in path:
        return ""
    pattern = re.compile(re.escape(path).replace(r"\*", r"[^.]+") + "$")
    return next((text for key, text in comments.items() if pattern.match(key)), "")


def reference_markdown(example: Path) -> str:
    """A Markdown table of every config key: type, default, and what it is for."""
    comments = example_comments(example.read_text())
    lines = ["| key | type | default | what it is |", "|---|---|---|---|"]
    for path, type_name, default in _rows(Config, ""):
        comment = (
            comments.get(path) or comments.get(_factory_twin(path)) or _any_key(comments, path)
        )
        comment = comment.replace("|", "\\|")
        shown = type_name.replace("|", "\\|")
        lines.append(f"| `{path}` | {shown} | {default} | {comment} |")
    return "\n".join(lines) + "\n"
