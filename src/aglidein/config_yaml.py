"""The config file's YAML: parsed once, with the line of every key path, bounded.

An alias bomb ("billion laughs") and integer literals too long for Python are refused
with a located error before anything expands or converts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from aglidein.errors import ConfigError

__all__ = [
    "MAX_NUMBER_DIGITS",
    "MAX_YAML_ALIASES",
    "MAX_YAML_NODES",
    "Loc",
    "format_loc",
    "line_of",
    "load_yaml",
]

MAX_NUMBER_DIGITS = 30  # longer integer literals are refused before Python parses them
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000  # after expanding aliases ("billion laughs")

_LOADER: type[yaml.SafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)  # libyaml when present

Loc = tuple[str | int, ...]


def load_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int], list[str]]:
    """The data, the line of every key path, and the problems found on the way
    (duplicate keys, oversized numbers); those do not stop the other checks."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if node is None:
        raise ConfigError(f"{source}:1: the config file is empty")
    _check_aliases(text, node, source)
    lines: dict[Loc, int] = {}
    problems: list[str] = []
    _index_lines(node, (), lines, problems, source)
    if any(p.endswith(_TOO_LONG) for p in problems):
        raise ConfigError(problems)  # Python would refuse to build such an int
    try:
        data = _LOADER("").construct_document(node)  # no second parse
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    return data, lines, problems


_TOO_LONG = f"number has more than {MAX_NUMBER_DIGITS} digits"


def _check_aliases(text: str, node: yaml.Node, source: str) -> None:
    """Refuse alias bombs: more than MAX_YAML_ALIASES aliases, or a document that
    expands to more than MAX_YAML_NODES nodes (counted without expanding)."""
    if "*" not in text:
        return
    aliases: list[int] = []
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                aliases.append(event.start_mark.line + 1 if event.start_mark else 1)
    except yaml.YAMLError:  # compose accepted it; nothing more to learn here
        return
    if len(aliases) > MAX_YAML_ALIASES:
        raise ConfigError(
            f"{source}:{aliases[MAX_YAML_ALIASES]}: more than {MAX_YAML_ALIASES} YAML aliases"
        )
    if aliases and _expanded_size(node) > MAX_YAML_NODES:
        raise ConfigError(
            f"{source}:{aliases[0]}: YAML aliases expand to more than {MAX_YAML_NODES} nodes"
        )


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded; memoised per node, so linear."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if done:
            active.discard(key)
            sizes[key] = min(MAX_YAML_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if key in active:
            return MAX_YAML_NODES + 1  # a recursive alias expands forever
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _index_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[str], source: str
) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(
                    f"{source}:{key_node.start_mark.line + 1}: {format_loc((*loc, key))}: "
                    "duplicate key"
                )
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*loc, key), lines, problems, source)
            lines[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*loc, index), lines, problems, source)
    elif (
        isinstance(node, yaml.ScalarNode)
        and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        and sum(c.isdigit() for c in str(node.value)) > MAX_NUMBER_DIGITS
    ):
        problems.append(f"{source}:{node.start_mark.line + 1}: {format_loc(loc)}: {_TOO_LONG}")


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top)"


def line_of(loc: Loc, lines: Mapping[Loc, int]) -> int:
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)
