"""Frontend settings that land on the entries: `start_expr`, `running_glideins_per_entry`,
and the factory's `per_frontends` / `allow_frontends` read with the frontend's name.

start_expr: GlideinWMS ANDs the frontend's and the group's `start_expr` into the START
of every glidein's startd. The frontend's goes to every entry's `start_expr` (every
glidein carries it), a group's to that group's `start_expr` (its glideins only); the
pilot ANDs both into START.

running_glideins_per_entry max: GlideinWMS caps one group's glideins at one entry;
aglidein caps all glideins at an entry (`limits.max_glideins`). An entry gets the
smaller of its own limit and the sum of the groups' caps (exact for one group).

per_frontends: a factory's `<per_frontend name="FRONTEND[:SECURITY_CLASS]">` caps the
glideins of that frontend at the entry; aglidein's groups are that frontend's groups,
so each gets `group_limits` with those values (exact for one group; with several,
GlideinWMS caps their sum, reported). allow_frontends without the imported frontend:
`allow_groups: []` (the entry serves none of its groups).
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

__all__ = ["apply_to_entries", "read_start_expr", "report_frontend_settings"]

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


def read_start_expr(holder: XmlNode | None, subject: str, report: ImportReport) -> str | None:
    """A `<match start_expr>` that is not `True` as one line of ClassAd, else None."""
    found = _start_expr(holder, subject, report)
    return found.expr if found is not None else None


def _body(entry: ConvertedEntry) -> dict[str, Node]:
    node: Node = entry.node
    while isinstance(node, Commented):
        node = node.value
    assert isinstance(node, dict)
    return node


def _set_after_limits(body: dict[str, Node], key: str, value: Node) -> None:
    """Set `key` right after `limits` (DESIGN §4 key order), or at the end."""
    if key in body or "limits" not in body:
        body[key] = value
        return
    rebuilt: dict[str, Node] = {}
    for name, item in body.items():
        rebuilt[name] = item
        if name == "limits":
            rebuilt[key] = value
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


def _gwms_meta(entry: ConvertedEntry) -> dict[str, Node]:
    meta = _body(entry).get("gwms")
    return meta if isinstance(meta, dict) else {}


def _apply_per_frontends(
    entry: ConvertedEntry, frontend: str, groups: list[str], report: ImportReport
) -> None:
    per_frontends = _gwms_meta(entry).get("per_frontends")
    if not isinstance(per_frontends, dict):
        return
    subject = f"entry {entry.name}"
    mine = [v for k, v in per_frontends.items() if k.split(":", 1)[0] == frontend]
    others = sorted(k for k in per_frontends if k.split(":", 1)[0] != frontend)
    if others:
        report.note(
            entry.where, subject, f"per_frontends of other frontends not imported: {others}"
        )
    if not mine or not groups or not isinstance(mine[0], dict):
        return
    values: dict[str, Node] = {}
    for gwms_key, key in (("glideins", "max_glideins"), ("idle", "max_idle"), ("held", "max_held")):
        raw = mine[0].get(gwms_key)
        number = parse_int(raw) if isinstance(raw, str) else None
        if number is not None and number >= 0:
            values[key] = number
    if not values:
        return
    _set_after_limits(_body(entry), "group_limits", {g: dict(values) for g in groups})
    text = f"per_frontend {frontend} imported as group_limits {values} for {', '.join(groups)}"
    if len(groups) > 1:
        text += " (GlideinWMS caps the groups' sum; aglidein caps each group)"
        report.warn(entry.where, subject, text)
    else:
        report.note(entry.where, subject, text)


def _apply_allow_frontends(entry: ConvertedEntry, frontend: str, report: ImportReport) -> None:
    allowed = _gwms_meta(entry).get("allow_frontends")
    if not isinstance(allowed, list) or frontend in allowed:
        return
    _set_after_limits(_body(entry), "allow_groups", [])
    report.warn(
        entry.where,
        f"entry {entry.name}",
        f"allow_frontends {allowed} does not name frontend {frontend}: allow_groups: [] "
        "(the entry serves none of its groups)",
    )


def apply_to_entries(
    root: XmlNode, entries: list[ConvertedEntry], groups: list[str], report: ImportReport
) -> None:
    """Put the frontend's start_expr, per-entry running caps, per_frontends and
    allow_frontends on every entry (`groups`: the imported group names)."""
    start = _start_expr(root.child("match"), "frontend", report)
    if start is not None:
        for entry in entries:
            _set_after_limits(_body(entry), "start_expr", start.expr)
        report.note(
            start.where, "frontend", f"start_expr imported as entries' start_expr: {start.expr!r}"
        )
    cap = _running_cap(root, report)
    if cap is not None:
        for entry in entries:
            _apply_running_cap(entry, cap[0], cap[1], report)
    frontend = root.attrs.get("frontend_name")
    if frontend:
        for entry in entries:
            _apply_per_frontends(entry, frontend, groups, report)
            _apply_allow_frontends(entry, frontend, report)


def report_frontend_settings(entries: list[ConvertedEntry], report: ImportReport) -> None:
    """Without a frontend file, per_frontends and allow_frontends name no group."""
    for entry in entries:
        meta = _gwms_meta(entry)
        for key in ("per_frontends", "allow_frontends"):
            if key in meta:
                report.warn(
                    entry.where,
                    f"entry {entry.name}",
                    f"{key} not imported: without the frontend file no group is named; "
                    f"kept in gwms.{key}",
                )
