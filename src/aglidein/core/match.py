"""Which job shapes match which entries, exactly as classad2 would say, fast.

A group's `match` is split into its top-level `&&` operands (the whole is true iff each
operand is true or a non-zero number). Entries are collapsed into classes that agree on
every TARGET attribute the expression reads, shapes into classes that agree on every MY
attribute. Each operand is then decided on a small table of the *distinct values it reads*
on each side, so entry-only parts are evaluated once per entry class (hoisted) and
job-only parts once per shape class; `stringListMember` and `==`/`=?=` operands are
answered from an index of entry values, numeric comparisons with numpy, and what remains
is evaluated (compiled, or by classad2) only on pairs still alive. The result is a boolean
matrix of shape classes × entry classes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from aglidein.classad.evaluate import CompiledExpr, compile_expr, conjuncts, truthy
from aglidein.classad.funcs import string_list_items
from aglidein.classad.ops import DEFAULT_DELIMITERS, Ad, Value
from aglidein.classad.parse import Attr, Binary, Call, Lit
from aglidein.core.match_tables import column_values, outer_table
from aglidein.core.model import ScalarValue

__all__ = [
    "BoolMatrix",
    "EntriesKey",
    "Matcher",
    "compiled_matcher",
    "is_match",
    "pair_matches",
    "typed_key",
    "with_current_time",
]

BoolMatrix = npt.NDArray[np.bool_]
Ids = npt.NDArray[np.intp]
_SMALL_TABLE = 4096  # below this many value pairs, evaluating them all is cheapest


def typed_key(value: ScalarValue) -> tuple[str, ScalarValue]:
    """A hashable key that keeps 1, 1.0 and true apart (Python says they are equal)."""
    return (type(value).__name__, value)


_ClassKey = tuple[tuple[ScalarValue, ...], tuple[type, ...]]


def _classes(
    ads: Sequence[Ad], names: Sequence[str]
) -> tuple[npt.NDArray[np.intp], list[dict[str, ScalarValue]]]:
    """Group ads by their values of `names`: (class of each ad, one ad per class).

    Values are keyed with their types, so 1, 1.0 and true stay apart."""
    index: dict[_ClassKey, int] = {}
    add = index.setdefault
    keys: list[_ClassKey]
    if len(names) == 1:  # the common operand reads one attribute: no per-ad map()
        name = names[0]
        keys = [((v,), (type(v),)) for v in [ad.get(name) for ad in ads]]
    else:
        keys = [(v, tuple(map(type, v))) for v in [tuple(map(ad.get, names)) for ad in ads]]
    codes = [add(key, len(index)) for key in keys]
    ids = np.array(codes, dtype=np.intp) if codes else np.empty(0, dtype=np.intp)
    reps = [dict(zip(names, values, strict=True)) for values, _ in index]
    return ids, reps


def _nonzero(matrix: BoolMatrix) -> tuple[Ids, Ids]:
    """np.nonzero of a 2-d matrix (the same pairs in the same order), several times faster
    through the flat indexes."""
    rows, cols = np.divmod(np.flatnonzero(matrix), matrix.shape[1])
    return rows, cols


@dataclass(frozen=True)
class _Operand:
    expr: CompiledExpr
    my_names: tuple[str, ...]
    target_names: tuple[str, ...]


_EVAL_CALL = re.compile(r"\beval\s*\(", re.IGNORECASE)


def _reads_by_name(expr: CompiledExpr) -> bool:
    """Whether `expr` can read attributes its text does not name (`eval("x" + ...)`):
    the entries are then told apart by every attribute they have."""
    return _EVAL_CALL.search(expr.text) is not None


def with_current_time(ad: Ad, now: float | None) -> Ad:
    """`ad` with HTCondor's implicit `CurrentTime` (= now) unless it sets its own."""
    if now is None or ad.get("currenttime") is not None:
        return ad
    return {**ad, "currenttime": int(now)}


def is_match(value: Value) -> bool:
    """HTCondor's EvalMatchExpr: `true` or a non-zero number is a match, nothing else."""
    return truthy(value)


def pair_matches(
    match: str, job: Mapping[str, ScalarValue], entry: Mapping[str, ScalarValue], now: float
) -> bool:
    """Whether one job (MY) matches one entry (TARGET) at `now`: the single-pair path."""
    my = with_current_time({k.lower(): v for k, v in job.items()}, now)
    target = with_current_time({k.lower(): v for k, v in entry.items()}, now)
    return is_match(_compiled(match).evaluate(my, target))


@lru_cache(maxsize=256)
def _compiled(text: str) -> CompiledExpr:
    return compile_expr(text)


class Matcher:
    """A group's `match` against a fixed list of entries (name → attrs) at `now`.

    `now` is the value of HTCondor's implicit `CurrentTime` in every ad that does not set
    one (None leaves it undefined).
    """

    def __init__(
        self,
        match: str,
        entries: Sequence[tuple[str, Mapping[str, ScalarValue]]],
        now: float | None = None,
    ):
        self.expr = compile_expr(match)
        self.entry_names = tuple(name for name, _ in entries)
        self._now = now
        ads: list[Ad] = [{k.lower(): v for k, v in attrs.items()} for _, attrs in entries]
        every_attr = frozenset(name for ad in ads for name in ad)
        parts = conjuncts(self.expr)
        self._operands = [
            _Operand(
                p,
                tuple(sorted(p.my_refs)),
                tuple(sorted(p.target_refs | (every_attr if _reads_by_name(p) else set()))),
            )
            for p in parts
        ]
        self.my_names = tuple(sorted(self.expr.my_refs))
        target_names = tuple(sorted({n for op in self._operands for n in op.target_names}))
        if "currenttime" in target_names:
            ads = [with_current_time(ad, now) for ad in ads]
        self._entry_class, self._entry_reps = _classes(ads, target_names)
        self._entry_class_size = np.bincount(
            self._entry_class, minlength=len(self._entry_reps)
        ).astype(np.float64)
        self._entry_only = [self._evaluate_entry_only(op) for op in self._operands]

    @property
    def entry_class(self) -> npt.NDArray[np.intp]:
        """The class of each entry (column of the class matrix)."""
        return self._entry_class

    @property
    def entry_class_size(self) -> npt.NDArray[np.float64]:
        """How many entries each class holds."""
        return self._entry_class_size

    def _ok(self, value: Value) -> bool:
        # the whole is a match iff it is true or a non-zero number, and so is a
        # conjunction iff each of its operands is (`1.5 && 2` is true)
        return truthy(value)

    def _evaluate_entry_only(self, op: _Operand) -> BoolMatrix | None:
        if op.my_names:
            return None
        return np.array([self._ok(op.expr.evaluate({}, rep)) for rep in self._entry_reps], bool)

    def match_classes(self, shapes: Sequence[Ad]) -> tuple[npt.NDArray[np.intp], BoolMatrix]:
        """(class of each shape, matrix of shape classes × entry classes)."""
        shape_class, rows, cols, n_shape_classes = self.match_pairs(shapes)
        matrix = np.zeros((n_shape_classes, len(self._entry_reps)), dtype=bool)
        matrix[rows, cols] = True
        return shape_class, matrix

    def match_pairs(self, shapes: Sequence[Ad]) -> tuple[Ids, Ids, Ids, int]:
        """(class of each shape, the matching (shape class, entry class) pairs as two
        index arrays, the number of shape classes).

        Operands are applied to the whole class matrix while most of it is alive, then
        only to the pairs still alive."""
        if "currenttime" in self.my_names:
            shapes = [with_current_time(ad, self._now) for ad in shapes]
        shape_class, shape_reps = _classes(shapes, self.my_names)
        matrix = np.ones((len(shape_reps), len(self._entry_reps)), dtype=bool)
        pairs: tuple[Ids, Ids] | None = None
        order = sorted(range(len(self._operands)), key=lambda i: self._cost(i, shape_reps))
        for i in order:
            op, entry_only = self._operands[i], self._entry_only[i]
            if pairs is None:
                self._apply(op, entry_only, shape_reps, matrix)
                alive = int(np.count_nonzero(matrix))
                if alive < matrix.size // 8:  # sparse by now: look only where still true
                    pairs = _nonzero(matrix)
            else:
                pairs = self._filter(op, entry_only, shape_reps, pairs)
                alive = len(pairs[0])
            if not alive:
                break
        if pairs is None:
            pairs = _nonzero(matrix)
        return shape_class, pairs[0], pairs[1], len(shape_reps)

    def _cost(self, i: int, shape_reps: Sequence[Ad]) -> int:
        op = self._operands[i]
        if not op.my_names or not op.target_names:
            return 0
        kind = _index_kind(op.expr)
        if kind is not None:
            return 1 if kind == "list" else 2  # a list membership is usually the most selective
        return 3 + len(shape_reps) * len(self._entry_reps)

    def _apply(
        self,
        op: _Operand,
        entry_only: BoolMatrix | None,
        shape_reps: Sequence[Ad],
        matrix: BoolMatrix,
    ) -> None:
        """One operand on the whole class matrix."""
        if entry_only is not None:
            matrix &= entry_only[None, :]
            return
        my_ids, my_reps = _classes(shape_reps, op.my_names)
        if not op.target_names:
            rows = np.array([self._ok(op.expr.evaluate(rep, {})) for rep in my_reps], bool)
            matrix &= rows[my_ids][:, None]
            return
        tg_ids, tg_reps = _classes(self._entry_reps, op.target_names)
        alive = (lambda: _nonzero(matrix), int(np.count_nonzero(matrix)))
        table = self._table(op, my_reps, tg_reps, my_ids, tg_ids, alive)
        matrix &= table.take(my_ids, axis=0).take(tg_ids, axis=1)  # table[np.ix_(...)], faster

    def _filter(
        self,
        op: _Operand,
        entry_only: BoolMatrix | None,
        shape_reps: Sequence[Ad],
        pairs: tuple[Ids, Ids],
    ) -> tuple[Ids, Ids]:
        """One operand on the (shape class, entry class) pairs still alive."""
        rows, cols = pairs
        if entry_only is not None:
            keep = entry_only[cols]
        else:
            my_ids, my_reps = _classes(shape_reps, op.my_names)
            if not op.target_names:
                ok = np.array([self._ok(op.expr.evaluate(rep, {})) for rep in my_reps], bool)
                keep = ok[my_ids[rows]]
            else:
                tg_ids, tg_reps = _classes(self._entry_reps, op.target_names)
                alive = (lambda: pairs, len(rows))
                table = self._table(op, my_reps, tg_reps, my_ids, tg_ids, alive)
                keep = table[my_ids[rows], tg_ids[cols]]
        return rows[keep], cols[keep]

    def _table(
        self,
        op: _Operand,
        my_reps: list[dict[str, ScalarValue]],
        tg_reps: list[dict[str, ScalarValue]],
        my_ids: Ids,
        tg_ids: Ids,
        alive: tuple[Callable[[], tuple[Ids, Ids]], int],
    ) -> BoolMatrix:
        """The operand on every pair of distinct values it reads, or on those an alive
        (shape class, entry class) pair uses: `alive` = (those pairs, how many)."""
        size = len(my_reps) * len(tg_reps)
        kind = _index_kind(op.expr) if size > _SMALL_TABLE else None
        if kind == "list":
            return self._list_table(op, my_reps, tg_reps)
        if kind == "compare":
            return self._compare_table(op, my_reps, tg_reps)
        table = np.zeros((len(my_reps), len(tg_reps)), dtype=bool)
        alive_pairs, alive_count = alive
        if size <= _SMALL_TABLE or size <= alive_count:
            pairs: list[tuple[int, int]] = [
                (r, c) for r in range(len(my_reps)) for c in range(len(tg_reps))
            ]
        else:  # only the value pairs some still-alive (shape, entry) pair uses
            rows, cols = alive_pairs()
            codes = np.unique(my_ids[rows] * len(tg_reps) + tg_ids[cols])
            pairs = [(int(code) // len(tg_reps), int(code) % len(tg_reps)) for code in codes]
        for r, c in pairs:
            table[r, c] = self._ok(op.expr.evaluate(my_reps[r], tg_reps[c]))
        return table

    def _fill_rows_cols(
        self,
        op: _Operand,
        table: BoolMatrix,
        my_reps: list[dict[str, ScalarValue]],
        tg_reps: list[dict[str, ScalarValue]],
        rows: Sequence[int],
        cols: Sequence[int],
    ) -> None:
        """Evaluate whole rows and columns the index could not answer."""
        for r in rows:
            for c in range(len(tg_reps)):
                table[r, c] = self._ok(op.expr.evaluate(my_reps[r], tg_reps[c]))
        for c in cols:
            for r in range(len(my_reps)):
                table[r, c] = self._ok(op.expr.evaluate(my_reps[r], tg_reps[c]))

    def _list_table(
        self,
        op: _Operand,
        my_reps: list[dict[str, ScalarValue]],
        tg_reps: list[dict[str, ScalarValue]],
    ) -> BoolMatrix:
        call = op.expr.tree
        assert isinstance(call, Call)
        needle_attr, list_attr = call.args[0], call.args[1]
        assert isinstance(needle_attr, Attr)
        assert isinstance(list_attr, Attr)
        delimiters = DEFAULT_DELIMITERS
        if len(call.args) == 3:
            assert isinstance(call.args[2], Lit)
            assert isinstance(call.args[2].value, str)
            delimiters = call.args[2].value
        fold = call.name == "stringlistimember"
        needles_on_target = needle_attr.scope == "target"
        needle_reps, list_reps = (tg_reps, my_reps) if needles_on_target else (my_reps, tg_reps)
        table = np.zeros((len(my_reps), len(tg_reps)), dtype=bool)
        by_needle: dict[str, list[int]] = {}
        odd_needles: list[int] = []
        for i, rep in enumerate(needle_reps):
            value = rep.get(needle_attr.name)
            if type(value) is str and value.isascii():
                by_needle.setdefault(value.lower() if fold else value, []).append(i)
            else:
                odd_needles.append(i)
        odd_lists: list[int] = []
        list_at: list[int] = []  # (list_at[k], needle_at[k]): a needle in a list
        needle_at: list[int] = []
        for j, rep in enumerate(list_reps):
            value = rep.get(list_attr.name)
            if type(value) is not str or not value.isascii():
                odd_lists.append(j)
                continue
            before = len(needle_at)
            for item in string_list_items(value, delimiters):
                needle_at.extend(by_needle.get(item.lower() if fold else item, ()))
            list_at.extend([j] * (len(needle_at) - before))
        if needles_on_target:
            table[list_at, needle_at] = True
        else:
            table[needle_at, list_at] = True
        if needles_on_target:
            self._fill_rows_cols(op, table, my_reps, tg_reps, odd_lists, odd_needles)
        else:
            self._fill_rows_cols(op, table, my_reps, tg_reps, odd_needles, odd_lists)
        return table

    def _compare_table(
        self,
        op: _Operand,
        my_reps: list[dict[str, ScalarValue]],
        tg_reps: list[dict[str, ScalarValue]],
    ) -> BoolMatrix:
        node = op.expr.tree
        assert isinstance(node, Binary)
        left, right = node.left, node.right
        assert isinstance(left, Attr)
        assert isinstance(right, Attr)
        left_reps, right_reps = (my_reps, tg_reps) if left.scope == "my" else (tg_reps, my_reps)
        lvals, lodd, lstr = column_values(left_reps, left.name)
        rvals, rodd, rstr = column_values(right_reps, right.name)
        table_lr = outer_table(node.op, lvals, rvals, lstr, rstr)
        table = table_lr if left.scope == "my" else table_lr.T.copy()
        rows, cols = (lodd, rodd) if left.scope == "my" else (rodd, lodd)
        self._fill_rows_cols(op, table, my_reps, tg_reps, rows, cols)
        return table


def _index_kind(expr: CompiledExpr) -> str | None:
    """Whether an operand is one the matcher answers from an index: "list", "compare"."""
    node = expr.tree
    if isinstance(node, Call) and node.name in ("stringlistmember", "stringlistimember"):
        args = node.args
        if len(args) not in (2, 3) or not all(isinstance(a, Attr) for a in args[:2]):
            return None
        scopes = {a.scope for a in args[:2] if isinstance(a, Attr)}
        if scopes != {"my", "target"}:
            return None
        if len(args) == 3 and not (
            isinstance(args[2], Lit) and isinstance(args[2].value, str) and args[2].value
        ):
            return None
        return "list"
    if (
        isinstance(node, Binary)
        and node.op in ("<", "<=", ">", ">=", "==", "!=", "=?=")
        and isinstance(node.left, Attr)
        and isinstance(node.right, Attr)
        and {node.left.scope, node.right.scope} == {"my", "target"}
    ):
        return "compare"
    return None


# (entry name, ((attr, type name, value), ...)): type names keep 1, 1.0 and true apart
EntriesKey = tuple[tuple[str, tuple[tuple[str, str, ScalarValue], ...]], ...]


def compiled_matcher(match: str, entries: EntriesKey, now: float) -> Matcher:
    """A Matcher, reused while the group's `match` and the entries' attrs do not change
    (and, when `match` reads `CurrentTime`, while `now` does not)."""
    expr = _compiled(match)
    reads_now = "currenttime" in expr.my_refs | expr.target_refs
    return _cached_matcher(match, entries, now if reads_now else None)


@lru_cache(maxsize=64)
def _cached_matcher(match: str, entries: EntriesKey, now: float | None) -> Matcher:
    return Matcher(match, [(name, {k: v for k, _, v in attrs}) for name, attrs in entries], now)
