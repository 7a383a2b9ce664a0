"""The one door to classad2: parsing, evaluation, references, ad dumps.

`import htcondor2` happens here, once: the PyPI wheel's classad2 evaluates
`stringListMember` and the other `stringList*` functions to ERROR until htcondor2 has
been imported in the process (it registers them). Everything else in aglidein that
needs ClassAd semantics comes through this module.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeAlias

import classad2
import htcondor2  # registers stringListMember & co. with classad2; Submit for expand_submit

__all__ = [
    "ERROR",
    "UNDEFINED",
    "AdValue",
    "Expr",
    "ExprSyntaxError",
    "ScalarValue",
    "Special",
    "ad_from_json",
    "ad_from_mapping",
    "expand_submit",
    "is_true",
    "iter_json_ads",
    "iter_long_ads",
    "parse_expr",
    "quote",
]


class Special(enum.Enum):
    """ClassAd values that are not data: UNDEFINED and ERROR."""

    UNDEFINED = "undefined"
    ERROR = "error"

    def __repr__(self) -> str:
        return self.value.upper()


UNDEFINED = Special.UNDEFINED
ERROR = Special.ERROR

# A value as aglidein passes it around: plain Python data, or an unevaluated expression.
AdValue: TypeAlias = "str | int | float | bool | list[AdValue] | Expr"
EvalResult: TypeAlias = "str | int | float | bool | list[Any] | dict[str, Any] | Special"
# A scalar attribute value as the compiler and the demand shapes hold it.
ScalarValue = str | int | float | bool | None  # None = the attribute is undefined


class ExprSyntaxError(ValueError):
    """A ClassAd expression that does not parse."""


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed ClassAd expression; equal when the source text is equal."""

    text: str
    _tree: Any = field(compare=False, hash=False, repr=False)

    def evaluate(
        self, my: Mapping[str, AdValue] | None = None, target: Mapping[str, AdValue] | None = None
    ) -> EvalResult:
        """Evaluate with `my` as MY and `target` as TARGET, HTCondor semantics exactly."""
        my_ad = ad_from_mapping(my or {})
        target_ad = ad_from_mapping(target or {})
        try:
            return _from_classad_value(self._tree.eval(my_ad, target_ad))
        except classad2.ClassAdException:  # a bare `parent`: an ad classad2 cannot convert
            return ERROR

    def references(self) -> tuple[frozenset[str], frozenset[str]]:
        """Attribute names referenced: (MY/unscoped ones, TARGET ones), as written.

        Every scope of a match context counts: `MY`, `ad`, `LEFT`, `self` name the job's
        side, `TARGET`, `other`, `RIGHT` the entry's; a chain such as `TARGET.x.y` reads
        `x`. Names in ClassAds are case-insensitive; callers compare them lowercased.
        """
        try:
            refs = [_ref_chain(ref) for ref in classad2.ClassAd().externalRefs(self._tree)]
        except Exception:  # classad2 gives up on `{...}.a` and friends: scan the text
            refs = _scanned_refs(self.text)
        if "currenttime" in self.text.lower():  # classad2 leaves the implicit one out
            refs += [c for c in _scanned_refs(self.text) if c[-1].lower() == "currenttime"]
        mine: set[str] = set()
        theirs: set[str] = set()
        for chain in refs:
            side, name = _ref_side(chain)
            if name:
                (theirs if side == "target" else mine).add(name)
        if _CONTEXT_CALL.search(self.text):
            # after countMatches() classad2 resolves names in the context it leaves
            # behind (TARGET.x can read the job's x): any name can come from either ad
            mine |= theirs
            theirs |= mine
        return frozenset(mine), frozenset(theirs)

    def __str__(self) -> str:
        return self.text


# Scopes of a match context (HTCondor's MatchClassAd: `[other=.RIGHT; target=.RIGHT;
# my=.LEFT; ad=.LEFT]` around the job, LEFT, and the entry, RIGHT).
_MY_SCOPES = frozenset({"my", "ad", "left", "self"})
_TARGET_SCOPES = frozenset({"target", "other", "right"})
_CHAIN = re.compile(
    r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|"""
    r"""(?P<chain>(?<![\w.])\.?[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)(?P<call>\s*\()?"""
)
_CONTEXT_CALL = re.compile(r"\b(?:countMatches|evalInEachContext)\s*\(", re.IGNORECASE)
_NOT_NAMES = frozenset({"true", "false", "undefined", "error", "is", "isnt"})


def _ref_chain(ref: str) -> list[str]:
    """`TARGET.x[0].y` as ["TARGET", "x", "y"] (quotes around names dropped)."""
    parts = [re.sub(r"\[.*", "", part).strip().strip("'") for part in ref.split(".")]
    return [p for p in parts if p]


def _ref_side(chain: list[str]) -> tuple[str, str]:
    """("my" or "target", the attribute read in that ad) for a reference chain."""
    if not chain:
        return "my", ""
    head = chain[0].lower()
    if len(chain) > 1 and head in _TARGET_SCOPES:
        return "target", chain[1]
    if len(chain) > 1 and head in _MY_SCOPES | {"parent", "root"}:
        return "my", chain[1]
    return "my", chain[0]


def _scanned_refs(text: str) -> list[list[str]]:
    """Attribute reference chains found by scanning `text` (a superset: names inside
    nested ads count too); for expressions classad2 cannot list references of."""
    out: list[list[str]] = []
    for match in _CHAIN.finditer(text):
        chain = match.group("chain")
        if chain is None or match.group("call"):
            continue
        parts = [p.strip() for p in chain.lstrip(".").split(".")]
        if parts[0].lower() not in _NOT_NAMES:
            out.append(parts)
    return out


def parse_expr(text: str) -> Expr:
    """Parse a ClassAd expression, or raise ExprSyntaxError naming the problem."""
    if not text.strip():
        raise ExprSyntaxError("empty expression")
    try:
        tree = classad2.ExprTree(text)
    except Exception as exc:  # classad2 raises ClassAdException and friends
        raise ExprSyntaxError(f"not a valid ClassAd expression: {text!r}") from exc
    return Expr(text, tree)


def is_true(value: EvalResult) -> bool:
    """Whether HTCondor's matchmaking takes `value` as a match (EvalMatchExpr).

    `true`, or a non-zero integer or real (IsBooleanValueEquiv); strings, lists, ads,
    UNDEFINED and ERROR are not (UNDEFINED and ERROR compare equal to ints: test types).
    """
    kind = type(value)
    if kind is bool:
        return value is True
    if kind is int or kind is float:
        return value != 0
    return False


# The escapes HTCondor's unparser writes; other control characters, DEL and every
# non-ASCII character go out as octal escapes of their UTF-8 bytes (as classad2.quote).
_STRING_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
}


def quote(text: str) -> str:
    """A Python string as a ClassAd string literal, escaped as HTCondor writes it.

    The one quoting function for every constraint and `+Attr` value aglidein builds
    (tests hold it to classad2.quote). A NUL cannot be in a ClassAd string: ValueError.
    """
    if "\0" in text:
        raise ValueError(f"a ClassAd string cannot hold a NUL character: {text!r}")
    out = []
    for char in text:
        escaped = _STRING_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.extend(f"\\{byte:03o}" for byte in char.encode())
    return '"' + "".join(out) + '"'


def ad_from_mapping(values: Mapping[str, AdValue]) -> Any:
    """A classad2.ClassAd from plain values (Expr values stay expressions)."""
    ad = classad2.ClassAd()
    for name, value in values.items():
        ad[name] = _to_classad_value(value)
    return ad


def _to_classad_value(value: AdValue) -> Any:
    if isinstance(value, Expr):
        return value._tree
    if isinstance(value, list):
        return [_to_classad_value(v) for v in value]
    return value


def _from_classad_value(value: Any) -> EvalResult:
    if value is classad2.Value.Undefined:
        return UNDEFINED
    if value is classad2.Value.Error:
        return ERROR
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_from_classad_value(v) for v in value]
    if isinstance(value, classad2.ClassAd):
        return {k: _from_classad_value(v) for k, v in value.items()}
    if isinstance(value, classad2.ExprTree):
        return _from_classad_value(value.eval())
    return ERROR


def _from_json_value(value: Any) -> AdValue:
    if isinstance(value, str) and value.startswith("/Expr(") and value.endswith(")/"):
        return parse_expr(value[6:-2])
    if isinstance(value, list):
        return [_from_json_value(v) for v in value]
    if isinstance(value, bool | int | float | str):
        return value
    return parse_expr(json.dumps(value)) if isinstance(value, dict) else str(value)


def ad_from_json(obj: Mapping[str, Any]) -> dict[str, AdValue]:
    """One ad of `condor_q -json` output as plain values (`/Expr(...)/` become Expr)."""
    return {name: _from_json_value(value) for name, value in obj.items()}


def iter_json_ads(stream: IO[str] | Iterable[str]) -> Iterator[dict[str, Any]]:
    """Raw ads of a `condor_q -json` / `condor_status -json` dump, one at a time.

    Reads the HTCondor layout (`[`, one ad per block, `,` between ads, `]`) without
    loading the whole file; falls back to a plain JSON list for other layouts.
    """
    decoder = json.JSONDecoder()
    buffer = ""
    started = False
    for chunk in stream:
        buffer += chunk
        pos = 0
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                pos += 1
            if not started and pos < len(buffer):
                if buffer[pos] != "[":
                    raise ValueError("not a JSON list of ads")
                started = True
                pos += 1
                continue
            if pos < len(buffer) and buffer[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError:
                break
            if not isinstance(obj, dict):
                raise ValueError("a JSON ad must be an object")
            yield obj
            pos = end
        buffer = buffer[pos:]
    if buffer.strip():
        raise ValueError("truncated JSON ad dump")


def iter_long_ads(text: str) -> Iterator[dict[str, AdValue]]:
    """Ads of a `condor_q -long` dump (old ClassAd syntax, blank line between ads)."""
    for ad in classad2.parseAds(text, classad2.ParserType.Old):
        out: dict[str, AdValue] = {}
        for name in ad:
            raw = ad.lookup(name)
            value = _from_classad_value(raw)
            if isinstance(value, (Special, dict)) or (
                isinstance(raw, classad2.ExprTree) and not _is_literal(raw)
            ):
                out[name] = Expr(str(raw), raw)
            else:
                out[name] = value
        yield out


def _is_literal(tree: Any) -> bool:
    text = str(tree).strip()
    if text in ("true", "false") or text.startswith('"'):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def expand_submit(
    commands: Mapping[str, str], rows: Iterable[Mapping[str, str]] = ()
) -> list[dict[str, str]]:
    """Expand a submit description offline, once per itemdata row (one when no rows).

    Keys come back as htcondor2.Submit spells them (`+X` becomes `MY.X`); the itemdata
    variables themselves are left out. Raises ValueError for a description htcondor2
    refuses.
    """
    try:
        submit = htcondor2.Submit(dict(commands))
        keys = list(submit.keys())
        out: list[dict[str, str]] = []
        for row in list(rows) or [{}]:
            for name, value in row.items():
                submit[name] = value
            out.append({key: submit.expand(key) for key in keys})
        return out
    except (htcondor2.HTCondorException, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot expand submit description: {exc}") from exc
