"""Frontend `<group>` elements → aglidein `groups[]` items."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aglidein.classad.facade import ExprSyntaxError, parse_expr
from aglidein.gwms.attrs import parse_int
from aglidein.gwms.dropped import report_frontend_root, report_group_config
from aglidein.gwms.emit import Commented, Node
from aglidein.gwms.frontend import FrontendSettings, parse_truth
from aglidein.gwms.match import AttrType, translate_match_expr
from aglidein.gwms.onentries import read_start_expr
from aglidein.gwms.query_expr import and_all, scope_to_target
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import XmlNode

__all__ = ["ConvertedGroup", "convert_groups"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_MATCH_TYPES: dict[str, AttrType] = {"string": "str", "int": "num", "real": "num", "bool": "bool"}
# (element, attribute, aglidein group limit), in the key order of DESIGN §4
_GROUP_LIMITS = (
    ("running_glideins_total", "max", "max_running"),
    ("idle_vms_total", "max", "max_idle"),
    ("idle_glideins_per_entry", "max", "max_idle_per_entry"),
    ("idle_vms_total", "curb", "curb_idle"),
    ("idle_vms_per_entry", "curb", "curb_idle_per_entry"),
    ("running_glideins_total", "curb", "curb_running"),
    ("idle_glideins_per_entry", "reserve", "reserve_idle"),
)
# running_glideins_per_entry max goes to the entries (onentries.py)
_MAPPED = frozenset(
    {(tag, key) for tag, key, _ in _GROUP_LIMITS} | {("running_glideins_per_entry", "max")}
)


@dataclass(frozen=True)
class ConvertedGroup:
    """A groups[] item ready to emit."""

    name: str
    node: Node
    match_translated: bool


def _match_attr_types(sections: list[XmlNode | None]) -> dict[str, AttrType]:
    types: dict[str, AttrType] = {}
    for section in sections:
        attrs = section.child("match_attrs") if section is not None else None
        for node in attrs.iter("match_attr") if attrs is not None else ():
            if node.attrs.get("name"):
                kind = node.attrs.get("type", "string").lower()
                types[node.attrs["name"]] = _MATCH_TYPES.get(kind, "unknown")
    return types


class _GroupConverter:
    def __init__(
        self,
        node: XmlNode,
        root: XmlNode,
        glidein_types: Mapping[str, AttrType],
        report: ImportReport,
    ) -> None:
        self.node = node
        self.root = root
        self.glidein_types = glidein_types
        self.report = report
        self.subject = f"group {node.attrs.get('name', '?')}"

    def warn(self, message: str, where: str | None = None) -> None:
        self.report.warn(where or self.node.where, self.subject, message)

    def convert(self, name: str) -> ConvertedGroup:
        body: dict[str, Node] = {"name": name}
        comments = [f"from {self.node.where}"]
        body["schedds"] = self.schedds()
        body["job_constraint"] = self.job_constraint()
        match, translated, notes = self.match()
        body["match"] = Commented(match, tuple(notes)) if notes else match
        limits = self.limits()
        if limits:
            body["limits"] = limits
        start = read_start_expr(self.node.child("match"), self.subject, self.report)
        if start is not None:
            body["start_expr"] = start
        self.unmapped()
        return ConvertedGroup(name, Commented(body, tuple(comments)), translated)

    def sections(self, tag: str) -> list[XmlNode | None]:
        """The global and the group `<match><tag>` elements."""
        return [self.root.path("match", tag), self.node.path("match", tag)]

    def schedds(self) -> Node:
        names: list[str] = []
        for section in self.sections("job"):
            holder = section.child("schedds") if section is not None else None
            for schedd in holder.iter("schedd") if holder is not None else ():
                fullname = schedd.attrs.get("fullname", "").strip()
                if fullname and fullname not in names:
                    names.append(fullname)
        if not names:
            self.warn("no schedds in the frontend: set to 'collector' (every schedd it knows)")
            return Commented(["collector"], ("PLACEHOLDER: no <schedd> in the frontend",))
        schedds: list[Node] = [name for name in sorted(names)]
        return schedds

    def job_constraint(self) -> Node:
        parts = [
            section.attrs.get("query_expr", "True")
            for section in self.sections("job")
            if section is not None
        ]
        text = and_all(parts)
        try:
            parse_expr(text)
        except ExprSyntaxError:
            self.warn(f"job query_expr {text!r} is not a ClassAd expression: job_constraint false")
            return Commented("false", (f"UNTRANSLATED GlideinWMS job query_expr: {text}",))
        return "true" if text.lower() == "true" else text

    def match(self) -> tuple[str, bool, list[str]]:
        job_types = _match_attr_types(self.sections("job"))
        # only attributes that enabled entries define exist on aglidein's TARGET; a
        # GlideinWMS factory ad had more (GLIDEIN_GridType, EntryName, ...)
        known = {name.lower() for name in self.glidein_types}
        glidein_types = dict(self.glidein_types)
        glidein_types.update(_match_attr_types(self.sections("factory")))
        parts: list[str] = []
        problems: list[tuple[str, str]] = []  # (file:line, what)
        originals: list[str] = []
        for section in self.sections("factory"):
            if section is None:
                continue
            text = section.attrs.get("query_expr", "True")
            if text.strip().lower() == "true":
                continue
            originals.append(f"factory query_expr: {text}")
            result = scope_to_target(text)
            if result.expr is None:
                problems.append((section.where, f"factory query_expr {text!r}: {result.problem}"))
                continue
            unknown = self.unknown_targets(result.expr, known)
            if unknown:
                problems.append(
                    (
                        section.where,
                        f"factory query_expr {text!r} uses {', '.join(unknown)}, "
                        "which no enabled entry has in attrs",
                    )
                )
                continue
            parts.append(result.expr)
        for holder in (self.root.child("match"), self.node.child("match")):
            if holder is None:
                continue
            text = holder.attrs.get("match_expr", "True")
            if text.strip() == "True":
                continue
            originals.append(f"match_expr: {text}")
            translation = translate_match_expr(text, job_types, glidein_types)
            if translation.expr is None:
                problems.append((holder.where, f"match_expr {text!r}: {translation.problem}"))
                continue
            unknown = self.unknown_targets(translation.expr, known)
            if unknown:
                problems.append(
                    (
                        holder.where,
                        f"match_expr {text!r} uses {', '.join(unknown)}, which no enabled "
                        "entry has in attrs",
                    )
                )
                continue
            parts.append(translation.expr)
        if problems:
            for where, problem in problems:
                self.warn(f"not translated, match set to false: {problem}", where)
            notes = ["UNTRANSLATED: this group matches nothing until you write `match`."]
            notes += [f"GlideinWMS {original}" for original in originals]
            notes += [f"reason ({where}): {problem}" for where, problem in problems]
            return "false", False, notes
        notes = [f"translated from GlideinWMS {original}" for original in originals]
        return and_all(parts), True, notes

    @staticmethod
    def unknown_targets(expr: str, known: set[str]) -> list[str]:
        """TARGET attributes of `expr` that no enabled entry defines."""
        _, refs = parse_expr(expr).references()
        return sorted(ref for ref in refs if ref and ref.lower() not in known)

    def limits(self) -> dict[str, Node]:
        config = self.node.child("config")
        out: dict[str, Node] = {}
        if config is None:
            return out
        for tag, key, limit in _GROUP_LIMITS:
            element = config.child(tag)
            if element is None or key not in element.attrs:
                continue
            value = parse_int(element.attrs[key])
            if value is None or value < 0:
                self.warn(
                    f"<{tag} {key}={element.attrs[key]!r}> is not a count: default used",
                    element.where,
                )
                continue
            out[limit] = value
        if "ramp_up_attenuation" in config.attrs:
            try:
                attenuation = float(config.attrs["ramp_up_attenuation"])
            except ValueError:
                attenuation = 0.0
            if attenuation >= 1:
                out["ramp_up_attenuation"] = (
                    int(attenuation) if attenuation.is_integer() else attenuation
                )
            else:
                self.warn(
                    f"ramp_up_attenuation={config.attrs['ramp_up_attenuation']!r} is not a number "
                    ">= 1: "
                    "default used",
                    config.where,
                )
        return out

    def unmapped(self) -> None:
        config = self.node.child("config")
        report_group_config(config, _MAPPED, self.node.where, self.subject, self.report)
        for tag in ("attrs", "files"):
            section = self.node.child(tag)
            if section is not None and section.children:
                names = [
                    c.attrs.get("name") or c.attrs.get("absfname") or "?" for c in section.children
                ]
                self.report.note(
                    section.where, self.subject, f"{tag} not imported: {', '.join(names)}"
                )


def convert_groups(
    frontend: FrontendSettings,
    glidein_types: Mapping[str, AttrType],
    report: ImportReport,
) -> list[ConvertedGroup]:
    """Every enabled frontend group, sorted by name; disabled groups are reported."""
    root = frontend.root
    out: dict[str, ConvertedGroup] = {}
    groups = root.child("groups")
    for node in groups.iter("group") if groups is not None else ():
        raw = node.attrs.get("name", "")
        subject = f"group {raw}"
        if not parse_truth(node.attrs.get("enabled", "True")):
            report.warn(
                node.where,
                subject,
                "disabled in GlideinWMS: not imported (aglidein groups have no switch)",
            )
            continue
        name = (
            raw if _NAME.fullmatch(raw) else re.sub(r"[^A-Za-z0-9_.-]", "_", raw)[:128] or "group"
        )
        if name != raw:
            report.warn(node.where, subject, f"not a valid aglidein name: renamed {name}")
        base, suffix = name, 2
        while name in out:
            name, suffix = f"{base}_{suffix}", suffix + 1
        out[name] = _GroupConverter(node, root, glidein_types, report).convert(name)
    _report_frontend_globals(root, report)
    report_frontend_root(root, report)
    return [out[name] for name in sorted(out)]


def _report_frontend_globals(root: XmlNode, report: ImportReport) -> None:
    config = root.child("config")
    for element in config.children if config is not None else []:
        values = " ".join(f"{k}={v}" for k, v in sorted(element.attrs.items()))
        report.note(
            element.where,
            "frontend",
            f"<{element.tag} {values}> (frontend-wide) has no aglidein key: not imported; "
            "each group keeps its own limits",
        )
    for tag in ("attrs", "files"):
        section = root.child(tag)
        if section is not None and section.children:
            names = [
                c.attrs.get("name") or c.attrs.get("absfname") or "?" for c in section.children
            ]
            report.note(section.where, "frontend", f"{tag} not imported: {', '.join(names)}")
