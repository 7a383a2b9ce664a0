"""Frontend settings that land on the entries: `start_expr` and `running_glideins_per_entry`.

start_expr: GlideinWMS ANDs the frontend's and the group's `start_expr` into the START
of every glidein's startd. The aglidein pilot appends the entry attr
`GLIDEIN_CONDOR_CONFIG_EXTRA` (one line) to its condor config, so the import sets it to
`START = ($(START)) && (EXPR)` on every entry. That is exact when all glideins carry the
same expression: the frontend-wide one, and a group's only when it is the only group
(glideins of an entry serve every group in aglidein). Otherwise the group's expression
is reported and not imported.

running_glideins_per_entry max: GlideinWMS caps one group's glideins at one entry;
aglidein caps all glideins at an entry (`limits.max_glideins`). An entry gets the
smaller of its own limit and the sum of the groups' caps (exact for one group).
"""

from __future__ import annotations

from dataclasses import dataclass

from aglidein.classad.facade import ExprSyntaxError, parse_expr
from aglidein.gwms.attrs import parse_int
from aglidein.gwms.emit import Commented, Node
from aglidein.gwms.entries import ConvertedEntry
from aglidein.gwms.frontend import parse_truth
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import XmlNode

__all__ = ["CONFIG_EXTRA", "apply_to_entries"]

CONFIG_EXTRA = "GLIDEIN_CONDOR_CONFIG_EXTRA"
_RUNNING_DEFAULT = 10_000  # GlideinWMS <running_glideins_per_entry max>


@dataclass(frozen=True, slots=True)
class _Start:
    expr: str
    where: str


def _enabled_groups(root: XmlNode) -> list[XmlNode]:
    groups = root.child("groups")
    return [
        g
        for g in (groups.iter("group") if groups is not None else ())
        if parse_truth(g.attrs.get("enabled", "True"))
    ]


def _start_expr(holder: XmlNode | None, subject: str, report: ImportReport) -> _Start | None:
    """A `<match start_expr>` that is not `True` and is a one-line ClassAd, else None."""
    if holder is None:
        return None
    text = holder.attrs.get("start_expr", "True").strip()
    if text.lower() == "true":
        return None
    flat = " ".join(text.split())
    try:
        parse_expr(flat)
    except ExprSyntaxError:
        report.warn(
            holder.where, subject, f"start_expr {text!r} is not a ClassAd expression: not imported"
        )
        return None
    return _Start(flat, holder.where)


def _start_exprs(root: XmlNode, report: ImportReport) -> list[_Start]:
    """The start_exprs every glidein can carry; the others reported."""
    starts: list[_Start] = []
    found = _start_expr(root.child("match"), "frontend", report)
    if found is not None:
        starts.append(found)
    groups = _enabled_groups(root)
    for group in groups:
        subject = f"group {group.attrs.get('name', '?')}"
        found = _start_expr(group.child("match"), subject, report)
        if found is None:
            continue
        if len(groups) == 1:
            starts.append(found)
            continue
        report.warn(
            found.where,
            subject,
            f"start_expr {found.expr!r} not imported: with {len(groups)} groups it cannot go "
            "on glideins that serve every group; add it to `match` (as TARGET.X for the "
            "job's X) or to the entries' GLIDEIN_CONDOR_CONFIG_EXTRA yourself",
        )
    return starts


def _body(entry: ConvertedEntry) -> dict[str, Node]:
    node: Node = entry.node
    while isinstance(node, Commented):
        node = node.value
    assert isinstance(node, dict)
    return node


def _set_start(entry: ConvertedEntry, line: str, where: str, report: ImportReport) -> None:
    body = _body(entry)
    attrs = body.get("attrs")
    attrs = dict(attrs) if isinstance(attrs, dict) else {}
    if CONFIG_EXTRA in attrs:
        report.warn(
            where,
            f"entry {entry.name}",
            f"start_expr not imported: the entry already sets {CONFIG_EXTRA} "
            f"({attrs[CONFIG_EXTRA]!r}); add `{line}` to it yourself",
        )
        return
    attrs[CONFIG_EXTRA] = line
    sorted_attrs = dict(sorted(attrs.items()))
    if "attrs" in body:
        body["attrs"] = sorted_attrs
        return
    # keep the key order of DESIGN §4: attrs right before limits
    rebuilt: dict[str, Node] = {}
    for key, value in body.items():
        if key == "limits":
            rebuilt["attrs"] = sorted_attrs
        rebuilt[key] = value
    if "attrs" not in rebuilt:
        rebuilt["attrs"] = sorted_attrs
    body.clear()
    body.update(rebuilt)


def _running_cap(root: XmlNode, report: ImportReport) -> tuple[int, str] | None:
    """The sum of the enabled groups' running_glideins_per_entry max, with where."""
    total, wheres = 0, []
    for group in _enabled_groups(root):
        element = group.path("config", "running_glideins_per_entry")
        raw = element.attrs.get("max") if element is not None else None
        value = parse_int(raw) if raw is not None else _RUNNING_DEFAULT
        if value is None or value < 0:
            assert element is not None
            report.warn(
                element.where,
                f"group {group.attrs.get('name', '?')}",
                f"<running_glideins_per_entry max={raw!r}> is not a count: "
                f"GlideinWMS default {_RUNNING_DEFAULT} used",
            )
            value = _RUNNING_DEFAULT
        total += value
        wheres.append(element.where if element is not None else group.where)
    return (total, ", ".join(wheres)) if wheres else None


def _apply_running_cap(entry: ConvertedEntry, cap: int, where: str, report: ImportReport) -> None:
    body = _body(entry)
    limits: Node = body.get("limits")
    comments: tuple[str, ...] = ()
    if isinstance(limits, Commented):
        comments = limits.comments
        limits = limits.value
    if not isinstance(limits, dict):
        return
    current = limits.get("max_glideins")
    if isinstance(current, int) and cap < current:
        limits["max_glideins"] = cap
        body["limits"] = Commented(
            limits, (*comments, "max_glideins: the frontend's running_glideins_per_entry max")
        )
        report.note(
            where,
            f"entry {entry.name}",
            f"limits.max_glideins {current} -> {cap}: the frontend groups' "
            "running_glideins_per_entry max (summed over groups)",
        )


def apply_to_entries(root: XmlNode, entries: list[ConvertedEntry], report: ImportReport) -> None:
    """Put the frontend's start_expr and per-entry running caps on every entry."""
    starts = _start_exprs(root, report)
    if starts:
        line = "START = ($(START)) && " + " && ".join(f"({s.expr})" for s in starts)
        where = ", ".join(s.where for s in starts)
        for entry in entries:
            _set_start(entry, line, where, report)
        report.note(
            where,
            "frontend",
            f"start_expr imported as the entry attr {CONFIG_EXTRA}: {line!r}",
        )
    cap = _running_cap(root, report)
    if cap is not None:
        for entry in entries:
            _apply_running_cap(entry, cap[0], cap[1], report)
