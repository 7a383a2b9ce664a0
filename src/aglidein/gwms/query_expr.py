"""GlideinWMS factory `query_expr` → aglidein: a ClassAd on the factory's entry ad,
rescoped to the entry as aglidein's `match` sees it (TARGET), and the conjunction of the
parts a group's match is made of."""

from __future__ import annotations

import re

from aglidein.classad.facade import ExprSyntaxError, parse_expr
from aglidein.gwms.match import Translation

__all__ = ["and_all", "scope_to_target"]

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
