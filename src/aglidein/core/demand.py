"""Job shapes: idle and running jobs grouped by the attributes a group's `match` reads.

The projection of a group is every MY attribute its `match` and `job_constraint` read,
plus `JobStatus` and the four `Request*` attributes kept for reporting. A `Shaper`
(`aglidein.core.shaper`) counts projected jobs, and `group_shapes` turns the counts into a
group's `ShapeCount`s: expression-valued attributes evaluated in the job's context,
`job_constraint` applied, idle (JobStatus 1) and running (JobStatus 2) counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from aglidein.classad.evaluate import CompiledExpr, compile_expr, truthy
from aglidein.classad.facade import Expr, parse_expr
from aglidein.classad.parse import Attr, Binary, Call, Cond, ListLit, Node, Unary
from aglidein.config import Config, GroupConfig
from aglidein.core.model import JobShape, ScalarValue, ShapeCount
from aglidein.core.shaper import RawKey, Typed, expr_value, plain_value

__all__ = [
    "REQUEST_ATTRS",
    "GroupProjection",
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


def _job_ad(names: Sequence[str], key: RawKey) -> dict[str, ScalarValue]:
    """The projected job as plain lowercased values, expression values evaluated."""
    raw = {name: plain_value(value) for name, value in zip(names, key, strict=True)}
    exprs = {name: e for name, value in raw.items() if (e := expr_value(value)) is not None}
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


def _has_typed(counts: Mapping[RawKey, int]) -> bool:
    """Whether some value is `Typed`-wrapped (numbers of several types in a column)."""
    return Typed in set(map(type, chain.from_iterable(counts)))


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
    unwrap = _has_typed(counts)
    for key, count in counts.items():
        ext = (*map(plain_value, key), None) if unwrap else (*key, None)
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
    requests: dict[tuple[RawKey, tuple[type, ...]], tuple[int, int, int, int]] = {}
    for (values, _, raw), (idle, running) in rows.items():
        typed_raw = (raw, tuple(map(type, raw)))
        ints = requests.get(typed_raw)
        if ints is None:
            cpus, memory, disk, gpus = raw
            ints = (1 if cpus is None else _int(cpus), _int(memory), _int(disk), _int(gpus))
            requests[typed_raw] = ints
        shape = JobShape(tuple(zip(projection.match_refs, values, strict=True)), *ints)
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
