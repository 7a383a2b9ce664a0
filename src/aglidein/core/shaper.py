"""Counting job ads by the values of projected attributes (the first step of shaping).

A `Shaper` counts projected jobs (one dict lookup per attribute per job, the rest per
distinct key). An attribute whose value is an expression that reads attributes outside
the projection makes the `Shaper` widen its projection and count that batch again.
`aglidein.core.demand.group_shapes` turns its counts into a group's shapes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from aglidein.classad.facade import Expr, ExprSyntaxError, parse_expr

__all__ = ["RawKey", "Shaper", "Typed", "expr_value", "plain_value"]

RawKey = tuple[Any, ...]


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return None  # list- and ad-valued job attributes are treated as undefined
    return value


class Typed:
    """A job value whose type matters: 1, 1.0 and true are equal to Python, not to ClassAds."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return (
            other.__class__ is Typed
            and type(other.value) is type(self.value)
            and other.value == self.value
        )

    def __hash__(self) -> int:
        return hash((type(self.value).__name__, self.value))


_NUMERIC = frozenset({int, float, bool})
_SEEN_LIMIT = 1 << 20


def plain_value(value: Any) -> Any:
    """A counted value without its `Typed` wrapper."""
    return value.value if value.__class__ is Typed else value


class Shaper:
    """Counts jobs by their projected values; widens the projection for expressions.

    Columns named in `exact` (default: all) keep 1, 1.0 and true apart when one batch
    holds more than one of them, at the price of one more pass over that column.
    """

    def __init__(self, names: Iterable[str], exact: Iterable[str] | None = None) -> None:
        self.spellings: dict[str, list[str]] = {}
        for name in names:
            self.spellings.setdefault(name.lower(), []).append(name)
        self._exact = None if exact is None else {n.lower() for n in exact}
        self._known_keys: set[str] = set()
        self._plain_strings: set[str] = set()  # values seen not to be expressions
        self._segments: list[tuple[tuple[str, ...], Counter[RawKey]]] = []
        self._refresh()

    @property
    def names(self) -> tuple[str, ...]:
        """The lowercased names counted now (the projection may have widened)."""
        return self._names

    def _refresh(self) -> None:
        self._names = tuple(sorted(self.spellings))
        self._first = [self.spellings[name][0] for name in self._names]
        self._single = all(len(s) == 1 for s in self.spellings.values())
        for spellings in self.spellings.values():
            self._known_keys.update(spellings)

    def add(self, ads: Sequence[Mapping[str, Any]]) -> None:
        """Count a batch of job ads (kept only while counting them)."""
        while True:
            layout, counts = self._count(ads)
            if self.add_counts(layout, counts):
                return

    def add_weighted(self, ads: Sequence[tuple[Mapping[str, Any], int]]) -> None:
        """Count ads that stand for `n` alike jobs each (a schedd's GroupBy answer: one ad
        per distinct projected value tuple, with its job count), as `add` would count the
        `n` copies, without making them."""
        ads = [(ad, n) for ad, n in ads if n > 0]
        if not ads:
            return
        self._learn_spellings(set().union(*(ad for ad, _ in ads)))
        while True:
            exact = [i for i, name in enumerate(self._names) if self.is_exact(name)]
            counts: Counter[RawKey] = Counter()
            for ad, n in ads:
                counts[_wrap_numbers(self._values(ad), exact)] += n
            if self.add_counts(self._names, counts):
                return

    def plain_projection(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(lowercased names, the one spelling of each) while every name has one spelling;
        None once a dump spelled a name two ways (count whole ads with `add` then)."""
        return (self._names, tuple(self._first)) if self._single else None

    def is_exact(self, name: str) -> bool:
        """Whether 1, 1.0 and true must be kept apart in column `name` (lowercased)."""
        return self._exact is None or name in self._exact

    def add_counts(self, layout: tuple[str, ...], counts: Counter[RawKey]) -> bool:
        """Record jobs counted elsewhere: keys are values in `layout` order (lowercased
        names; None for undefined, lists and nested ads; `Typed` where numbers of several
        types share an exact column). False, with the projection widened, when a value is
        an expression reading attributes outside it: count the same jobs again then."""
        missing = self._expression_refs(counts)
        if missing:
            for name in missing:
                self.spellings.setdefault(name.lower(), [name])
            self._refresh()
            return False
        counts = self._typed_counts(layout, counts)
        if self._segments and self._segments[-1][0] == layout:
            self._segments[-1][1].update(counts)
        else:
            self._segments.append((layout, counts))
        return True

    def _typed_counts(self, layout: tuple[str, ...], counts: Counter[RawKey]) -> Counter[RawKey]:
        """Numbers in exact columns wrapped in `Typed`, so that batches merged into one
        segment keep 1, 1.0 and true apart too."""
        exact = [i for i, name in enumerate(layout) if self.is_exact(name)]
        if not exact or not any(key[i].__class__ in _NUMERIC for key in counts for i in exact):
            return counts
        typed: Counter[RawKey] = Counter()
        for key, n in counts.items():
            typed[_wrap_numbers(list(key), exact)] += n
        return typed

    def _learn_spellings(self, present: set[str]) -> None:
        unknown = present - self._known_keys
        if not unknown:
            return
        self._known_keys.update(unknown)
        changed = False
        for key in unknown:
            spellings = self.spellings.get(key.lower())
            if spellings is not None and key not in spellings:
                spellings.append(key)
                changed = True
        if changed:
            self._refresh()

    def _count(self, ads: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], Counter[RawKey]]:
        """(names of the key columns, counts by key). Names no job of the batch has are
        left out (undefined for all)."""
        present: set[str] = set().union(*ads)
        self._learn_spellings(present)
        if self._single:
            pairs = [(n, s) for n, s in zip(self._names, self._first, strict=True) if s in present]
            layout = tuple(n for n, _ in pairs)
            spellings = [s for _, s in pairs]
            try:
                counts = None
                if len(spellings) >= 2:
                    # KeyError: some jobs lack an attribute others have (undefined)
                    with suppress(KeyError):
                        counts = Counter(map(itemgetter(*spellings), ads))
                if counts is None:
                    counts = Counter(tuple(map(ad.get, spellings)) for ad in ads)
            except TypeError:  # an unhashable (list or nested ad) value
                pass
            else:
                mixed = self._mixed_columns(layout, spellings, counts, ads)
                if mixed:
                    counts = Counter(_typed_key(ad, spellings, mixed) for ad in ads)
                return layout, counts
        return self._names, Counter(self._key(ad) for ad in ads)

    def _mixed_columns(
        self,
        layout: tuple[str, ...],
        spellings: list[str],
        counts: Counter[RawKey],
        ads: Sequence[Mapping[str, Any]],
    ) -> list[int]:
        """Columns where this batch holds numbers of more than one type."""
        mixed = []
        for i, (name, spelling) in enumerate(zip(layout, spellings, strict=True)):
            if self._exact is not None and name not in self._exact:
                continue
            if not any(key[i].__class__ in _NUMERIC for key in counts):
                continue
            try:
                kinds = set(map(type, map(dict.get, ads, repeat(spelling))))  # type: ignore[arg-type]
            except TypeError:  # not dicts
                kinds = {type(ad.get(spelling)) for ad in ads}
            if len(kinds & _NUMERIC) > 1:
                mixed.append(i)
        return mixed

    def _key(self, ad: Mapping[str, Any]) -> RawKey:
        return tuple(self._values(ad))

    def _values(self, ad: Mapping[str, Any]) -> list[Any]:
        """The ad's value of every counted name (any spelling), None where undefined."""
        values = []
        for name in self._names:
            value = None
            for spelling in self.spellings[name]:
                if spelling in ad:
                    value = _hashable(ad[spelling])
                    break
            values.append(value)
        return values

    def _expression_refs(self, counts: Counter[RawKey]) -> set[str]:
        missing: set[str] = set()
        seen = self._plain_strings
        for value in set(chain.from_iterable(counts)) - seen:  # each distinct value once
            if value.__class__ is str and not value.startswith("/Expr("):
                if len(seen) < _SEEN_LIMIT:
                    seen.add(value)
                continue
            expr = expr_value(value)
            if expr is not None:
                mine, _ = expr.references()
                missing.update(n for n in mine if n and n.lower() not in self.spellings)
        return missing

    def counts(self) -> list[tuple[tuple[str, ...], Counter[RawKey]]]:
        """(names, counts by raw value tuple) for each projection used so far."""
        return self._segments


def _typed_key(ad: Mapping[str, Any], spellings: list[str], mixed: list[int]) -> RawKey:
    return _wrap_numbers([ad.get(s) for s in spellings], mixed)


def _wrap_numbers(values: list[Any], columns: Sequence[int]) -> RawKey:
    """`values` as a key, numbers in `columns` wrapped in `Typed`."""
    for i in columns:
        if values[i].__class__ in _NUMERIC:
            values[i] = Typed(values[i])
    return tuple(values)


def expr_value(value: Any) -> Expr | None:
    """The expression a job value holds (an `Expr`, or JSON's `/Expr(...)/`), else None."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, str) and value.startswith("/Expr(") and value.endswith(")/"):
        try:
            return parse_expr(value[6:-2])
        except ExprSyntaxError:
            return None
    return None
