"""Job shapes: idle and running jobs grouped by the attributes a group's `match` reads.

The projection of a group is every MY attribute its `match` and `job_constraint` read,
plus `JobStatus` and the four `Request*` attributes kept for reporting. A `Shaper` counts
projected jobs (one dict lookup per attribute per job, the rest per distinct key), and
`group_shapes` turns the counts into a group's `ShapeCount`s: expression-valued attributes
evaluated in the job's context, `job_constraint` applied, idle (JobStatus 1) and running
(JobStatus 2) counted. An attribute whose value is an expression that reads attributes
outside the projection makes the `Shaper` widen its projection and count that batch again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from aglidein.classad.evaluate import CompiledExpr, compile_expr, truthy
from aglidein.classad.facade import Expr, ExprSyntaxError, parse_expr
from aglidein.classad.parse import Attr, Binary, Call, Cond, ListLit, Node, Unary
from aglidein.config import Config, GroupConfig
from aglidein.core.model import JobShape, ScalarValue, ShapeCount

__all__ = [
    "REQUEST_ATTRS",
    "GroupProjection",
    "Shaper",
    "Typed",
    "exact_attrs",
    "group_projection",
    "group_shapes",
    "merge_shapes",
    "schedd_projection",
    "type_sensitive_refs",
]

REQUEST_ATTRS = ("RequestCpus", "RequestMemory", "RequestDisk", "RequestGpus")
JOB_STATUS = "JobStatus"
_IDLE, _RUNNING = 1, 2
RawKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class GroupProjection:
    """What a group reads of a job: `match_refs` make the shape, the rest is for filtering
    and reporting. Names are lowercased; `spelled` maps them to a preferred spelling."""

    group: str
    match_refs: tuple[str, ...]
    constraint_refs: tuple[str, ...]
    spelled: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every lowercased attribute name to ask for."""
        return tuple(lower for lower, _ in self.spelled)


@lru_cache(maxsize=256)
def _compiled(text: str) -> CompiledExpr:
    return compile_expr(text)


def group_projection(group: GroupConfig) -> GroupProjection:
    """The attributes a group needs from each job."""
    match_mine, _ = parse_expr(group.match).references()
    constraint_mine, _ = parse_expr(group.job_constraint).references()
    spelled: dict[str, str] = {}
    for name in (JOB_STATUS, *REQUEST_ATTRS, *sorted(match_mine), *sorted(constraint_mine)):
        if name:
            spelled.setdefault(name.lower(), name)
    return GroupProjection(
        group=group.name,
        match_refs=tuple(sorted({n.lower() for n in match_mine if n})),
        constraint_refs=tuple(sorted({n.lower() for n in constraint_mine if n})),
        spelled=tuple(sorted(spelled.items())),
    )


def exact_attrs(config: Config, groups: Sequence[str] | None = None) -> frozenset[str]:
    """Lowercased names whose values' types (1, 1.0, true) can change what a group's
    `match` or `job_constraint` says; only these need type-exact counting."""
    out: set[str] = set()
    for group in config.groups:
        if groups is None or group.name in groups:
            out.update(type_sensitive_refs(group.match))
            out.update(type_sensitive_refs(group.job_constraint))
    return frozenset(out)


_TYPE_BLIND_CALLS = frozenset({"stringlistmember", "stringlistimember", "member"})


def type_sensitive_refs(text: str) -> set[str]:
    """Attributes of `text` whose int/real/bool type can change its truth.

    Comparisons promote numbers and `&&`/`||`/`!`/`?:` only test truth, so an attribute
    used only there is type-blind, and so is the value of the whole expression (HTCondor
    takes true or any non-zero number as a match); arithmetic, `=?=` and type tests are
    not.
    """
    expr = _compiled(text)
    if expr.tree is None:
        return set(expr.my_refs)
    out: set[str] = set()

    def walk(node: Node, sensitive: bool) -> None:
        if isinstance(node, Attr):
            if sensitive:
                out.add(node.name)
        elif isinstance(node, Binary):
            if node.op in ("&&", "||") or node.op in ("<", "<=", ">", ">=", "==", "!="):
                child = False
            else:  # arithmetic, =?=, =!=
                child = True
            walk(node.left, child)
            walk(node.right, child)
        elif isinstance(node, Unary):
            walk(node.operand, node.op != "!")
        elif isinstance(node, Cond):
            walk(node.cond, False)
            walk(node.then, sensitive)
            walk(node.other, sensitive)
        elif isinstance(node, Call):
            if node.name == "ifthenelse" and len(node.args) == 3:
                walk(node.args[0], False)
                walk(node.args[1], sensitive)
                walk(node.args[2], sensitive)
            else:
                blind = node.name in _TYPE_BLIND_CALLS
                for arg in node.args:
                    walk(arg, not blind)
        elif isinstance(node, ListLit):
            for item in node.items:
                walk(item, False)

    walk(expr.tree, False)
    return out


def schedd_projection(config: Config, groups: Sequence[str] | None = None) -> tuple[str, ...]:
    """Attribute names (as spelled in the config) to ask a schedd for, for these groups."""
    wanted: dict[str, str] = {}
    for group in config.groups:
        if groups is None or group.name in groups:
            for lower, spelling in group_projection(group).spelled:
                wanted.setdefault(lower, spelling)
    return tuple(wanted[k] for k in sorted(wanted))


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


def _plain(value: Any) -> Any:
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
            values = list(key)
            for i in exact:
                if values[i].__class__ in _NUMERIC:
                    values[i] = Typed(values[i])
            typed[tuple(values)] += n
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
        values = []
        for name in self._names:
            value = None
            for spelling in self.spellings[name]:
                if spelling in ad:
                    value = _hashable(ad[spelling])
                    break
            values.append(value)
        return tuple(values)

    def _expression_refs(self, counts: Counter[RawKey]) -> set[str]:
        missing: set[str] = set()
        seen = self._plain_strings
        for value in set(chain.from_iterable(counts)) - seen:  # each distinct value once
            if value.__class__ is str and not value.startswith("/Expr("):
                if len(seen) < _SEEN_LIMIT:
                    seen.add(value)
                continue
            expr = _as_expr(value)
            if expr is not None:
                mine, _ = expr.references()
                missing.update(n for n in mine if n and n.lower() not in self.spellings)
        return missing

    def counts(self) -> list[tuple[tuple[str, ...], Counter[RawKey]]]:
        """(names, counts by raw value tuple) for each projection used so far."""
        return self._segments


def _typed_key(ad: Mapping[str, Any], spellings: list[str], mixed: list[int]) -> RawKey:
    values = [ad.get(s) for s in spellings]
    for i in mixed:
        if values[i].__class__ in _NUMERIC:
            values[i] = Typed(values[i])
    return tuple(values)


def _as_expr(value: Any) -> Expr | None:
    if isinstance(value, Expr):
        return value
    if isinstance(value, str) and value.startswith("/Expr(") and value.endswith(")/"):
        try:
            return parse_expr(value[6:-2])
        except ExprSyntaxError:
            return None
    return None


def _job_ad(names: Sequence[str], key: RawKey) -> dict[str, ScalarValue]:
    """The projected job as plain lowercased values, expression values evaluated."""
    raw = {name: _plain(value) for name, value in zip(names, key, strict=True)}
    exprs = {name: e for name, value in raw.items() if (e := _as_expr(value)) is not None}
    if not exprs:
        return raw
    context: dict[str, Any] = {
        n: (exprs.get(n) or v) for n, v in raw.items() if v is not None or n in exprs
    }
    out = dict(raw)
    for name, expr in exprs.items():
        value = expr.evaluate(context)
        out[name] = value if isinstance(value, str | int | float | bool) else None
    return out


def _int(value: ScalarValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def group_shapes(
    segments: Sequence[tuple[Sequence[str], Mapping[RawKey, int]]],
    projection: GroupProjection,
    job_constraint: str,
) -> tuple[ShapeCount, ...]:
    """A group's shapes from raw counts: constraint applied, idle and running counted."""
    constraint = _compiled(job_constraint)
    tally = _Tally()
    for names, counts in segments:
        if _has_expressions(counts):
            _add_evaluated(names, counts, projection, constraint, tally)
        else:
            _add_plain(names, counts, projection, constraint, tally)
    return tally.shapes()


def _has_expressions(counts: Mapping[RawKey, int]) -> bool:
    return any(
        value.__class__ is Expr or (value.__class__ is str and value.startswith("/Expr("))
        for key in counts
        for value in key
    )


def _picker(names: Sequence[str], wanted: Sequence[str]) -> Callable[[RawKey], RawKey]:
    """A function from a key (with a None appended) to the values of `wanted`."""
    position = {name: i for i, name in enumerate(names)}
    index = [position.get(name, len(names)) for name in wanted]
    if len(index) >= 2:
        return itemgetter(*index)
    if len(index) == 1:
        only = index[0]
        return lambda key: (key[only],)
    return lambda key: ()


_REQUESTS = ("requestcpus", "requestmemory", "requestdisk", "requestgpus")


def _add_plain(
    names: Sequence[str],
    counts: Mapping[RawKey, int],
    projection: GroupProjection,
    constraint: CompiledExpr,
    tally: _Tally,
) -> None:
    """Plain values only: the constraint is decided once per distinct value it reads."""
    constraint_names = sorted(constraint.my_refs)
    status_at = names.index("jobstatus") if "jobstatus" in names else len(names)
    pick_constraint = _picker(names, constraint_names)
    pick_match = _picker(names, projection.match_refs)
    pick_requests = _picker(names, _REQUESTS)
    decided: dict[RawKey, bool] = {}
    rows: dict[RawKey, list[Any]] = {}
    for key, count in counts.items():
        ext = (*map(_plain, key), None)
        status = ext[status_at]
        if status.__class__ is not int or (status != _IDLE and status != _RUNNING):
            continue
        read = pick_constraint(ext)
        typed = (read, tuple(map(type, read)))
        ok = decided.get(typed)
        if ok is None:
            ad = dict(zip(constraint_names, read, strict=True))
            ok = decided[typed] = truthy(constraint.evaluate(ad, {}))
        if not ok:
            continue
        values = pick_match(ext)
        shape_key = (values, tuple(map(type, values)), pick_requests(ext))
        row = rows.get(shape_key)
        if row is None:
            row = rows[shape_key] = [0, 0]
        row[0 if status == _IDLE else 1] += count
    for (values, _, (cpus, memory, disk, gpus)), (idle, running) in rows.items():
        shape = JobShape(
            attrs=tuple(zip(projection.match_refs, values, strict=True)),
            request_cpus=1 if cpus is None else _int(cpus),
            request_memory=_int(memory),
            request_disk=_int(disk),
            request_gpus=_int(gpus),
        )
        tally.add(shape, idle, running)


def _add_evaluated(
    names: Sequence[str],
    counts: Mapping[RawKey, int],
    projection: GroupProjection,
    constraint: CompiledExpr,
    tally: _Tally,
) -> None:
    """Some values are expressions: evaluate them in each job's projected ad."""
    for key, count in counts.items():
        ad = _job_ad(names, key)
        status = ad.get("jobstatus")
        if type(status) is not int or status not in (_IDLE, _RUNNING):
            continue
        if not truthy(constraint.evaluate(ad, {})):
            continue
        shape = JobShape(
            attrs=tuple((name, ad.get(name)) for name in projection.match_refs),
            request_cpus=_int(ad["requestcpus"]) if ad.get("requestcpus") is not None else 1,
            request_memory=_int(ad.get("requestmemory")),
            request_disk=_int(ad.get("requestdisk")),
            request_gpus=_int(ad.get("requestgpus")),
        )
        if status == _IDLE:
            tally.add(shape, count, 0)
        else:
            tally.add(shape, 0, count)


class _Tally:
    """Counts by shape, keeping 1, 1.0 and true apart (Python hashes them alike)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[Any, ...], list[Any]] = {}

    def add(self, shape: JobShape, idle: int, running: int) -> None:
        key = (shape, tuple([type(v) for _, v in shape.attrs]))
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = [shape, idle, running]
        else:
            row[1] += idle
            row[2] += running

    def shapes(self) -> tuple[ShapeCount, ...]:
        return tuple(
            ShapeCount(shape, idle, running) for shape, idle, running in self._rows.values()
        )


def merge_shapes(rows: Sequence[tuple[ShapeCount, ...]]) -> tuple[ShapeCount, ...]:
    """Shapes of several schedds summed by shape."""
    if len(rows) == 1:
        return rows[0]
    tally = _Tally()
    for row in rows:
        for sc in row:
            tally.add(sc.shape, sc.idle, sc.running)
    return tally.shapes()
