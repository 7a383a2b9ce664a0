"""Settings an import leaves behind, reported one by one, GlideinWMS defaults included.

A GlideinWMS setting with no aglidein key changes what the old factory did even when
the XML leaves it out (its default applies there, aglidein does something else), so
every known setting is reported: a `warning` when the XML changed it from the default
(the operator chose it and aglidein will not honour it), a `note` when it is the
default or absent. Whole sections aglidein has no use for (monitoring, staging, log
retention, ...) get one note each.
"""

from __future__ import annotations

from collections.abc import Mapping

from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import XmlNode

__all__ = [
    "GROUP_DEFAULTS",
    "report_factory_root",
    "report_frontend_root",
    "report_group_config",
    "report_schedds",
]

# Frontend group `<config>` settings aglidein has no key for, with their GlideinWMS
# defaults (frontend defaults in creation/lib/cvWParams.py) and what aglidein does instead.
GROUP_DEFAULTS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("glideins_removal", "type"): ("NO", "aglidein removes idle glideins only by its curbs"),
    ("glideins_removal", "margin"): ("0", "aglidein removes idle glideins only by its curbs"),
    ("glideins_removal", "wait"): ("0", "aglidein removes idle glideins only by its curbs"),
    ("glideins_removal", "requests_tracking"): (
        "False",
        "aglidein removes idle glideins only by its curbs",
    ),
    ("idle_vms_per_entry", "max"): (
        "100",
        "aglidein limits idle glideins per entry by max_idle_per_entry only",
    ),
    ("idle_glideins_lifetime", "max"): ("0", "aglidein never removes an idle glidein for age"),
    ("running_glideins_per_entry", "min"): ("0", "aglidein keeps no minimum per entry"),
    ("running_glideins_per_entry", "relative_to_queue"): (
        "1.15",
        "aglidein bounds requests by demand, not by a factor of the queue",
    ),
    ("partitionable_glidein", "min_memory"): ("2500", "aglidein sizes no partitionable slots"),
    ("processing_workers", "matchmakers"): ("3", "aglidein matches in one process"),
}

_FACTORY_ROOT_USED = frozenset({"factory_name", "loop_delay", "schedd_name"})
_FACTORY_CHILDREN_USED = frozenset({"attrs", "entries", "entry_sets", "condor_tarballs", "files"})
_FRONTEND_ROOT_USED = frozenset({"loop_delay"})
# config, attrs and files are reported by groups.py; security by frontend.py
_FRONTEND_CHILDREN_USED = frozenset(
    {"groups", "collectors", "ccbs", "match", "config", "attrs", "files", "security"}
)


def _values(node: XmlNode) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(node.attrs.items()))


def report_group_config(
    config: XmlNode | None,
    mapped: frozenset[tuple[str, str]],
    where: str,
    subject: str,
    report: ImportReport,
) -> None:
    """Every group `<config>` setting without an aglidein key; absent ones at their default."""
    seen: set[tuple[str, str]] = set()
    for element in config.children if config is not None else []:
        for key, value in sorted(element.attrs.items()):
            seen.add((element.tag, key))
            if (element.tag, key) in mapped:
                continue
            default, instead = GROUP_DEFAULTS.get((element.tag, key), (None, "no aglidein key"))
            setting = f"<{element.tag} {key}={value!r}>"
            if default is not None and value.strip() == default:
                report.note(
                    element.where,
                    subject,
                    f"{setting} (the GlideinWMS default) not imported: {instead}",
                )
            else:
                report.warn(element.where, subject, f"{setting} not imported: {instead}")
    for (tag, key), (default, instead) in sorted(GROUP_DEFAULTS.items()):
        if (tag, key) not in seen:
            report.note(
                where,
                subject,
                f"GlideinWMS default <{tag} {key}={default!r}> (absent here) not imported: "
                f"{instead}",
            )


def report_schedds(root: XmlNode, report: ImportReport) -> None:
    """A factory `schedd_name` list: not translated (those are schedds of the old factory's
    host); `pool.factory_schedds` spreads glideins the same way once set by hand."""
    names = [n.strip() for n in root.attrs.get("schedd_name", "").split(",") if n.strip()]
    if len(names) > 1:
        report.warn(
            root.where,
            "factory",
            f"GlideinWMS spread glideins over {len(names)} factory schedds "
            f"({', '.join(names)}): not imported; list aglidein's own in pool.factory_schedds",
        )


def _report_root(
    root: XmlNode,
    subject: str,
    used_attrs: frozenset[str],
    used_children: frozenset[str],
    report: ImportReport,
) -> None:
    unused = {k: v for k, v in sorted(root.attrs.items()) if k not in used_attrs}
    if unused:
        listed = " ".join(f"{k}={v}" for k, v in unused.items())
        report.note(root.where, subject, f"<{root.tag}> settings not imported: {listed}")
    for element in root.children:
        if element.tag in used_children:
            continue
        inside = f" {_values(element)}" if element.attrs else ""
        more = f" and {len(element.children)} child elements" if element.children else ""
        report.note(
            element.where,
            subject,
            f"<{element.tag}{inside}>{more} not imported (GlideinWMS service internals)",
        )


def report_factory_root(root: XmlNode, report: ImportReport) -> None:
    """Factory-wide attributes and sections the import does not use."""
    _report_root(root, "factory", _FACTORY_ROOT_USED, _FACTORY_CHILDREN_USED, report)
    files = root.child("files")
    if files is not None and files.children:
        names = [c.attrs.get("absfname") or "?" for c in files.children]
        report.note(files.where, "factory", f"files not imported: {', '.join(names)}")


def report_frontend_root(root: XmlNode, report: ImportReport) -> None:
    """Frontend-wide attributes and sections the import does not use, and the collectors."""
    _report_root(root, "frontend", _FRONTEND_ROOT_USED, _FRONTEND_CHILDREN_USED, report)
    collectors = root.child("collectors")
    for node in collectors.iter("collector") if collectors is not None else ():
        if (node.attrs.get("secondary") or "").strip().lower() == "true":
            report.warn(
                node.where,
                "frontend",
                f"secondary collector {node.attrs.get('node', '?')} not imported: glideins "
                "report to pool.collector only",
            )
    holders = [(root, "frontend")]
    groups = root.child("groups")
    for group in groups.iter("group") if groups is not None else ():
        holders.append((group, f"group {group.attrs.get('name', '?')}"))
    for holder, subject in holders:
        factory_collectors = holder.path("match", "factory", "collectors")
        for node in factory_collectors.children if factory_collectors is not None else ():
            report.note(
                node.where,
                subject,
                f"factory collector {node.attrs.get('node', '?')} not imported: aglidein is "
                "its own factory and needs no factory collector",
            )
    security = root.child("security")
    if security is not None and security.attrs:
        report.note(
            security.where,
            "frontend",
            f"<security {_values(security)}> not imported: aglidein signs glidein IDTOKENs "
            "with pool.signing_key",
        )
    ccbs = root.child("ccbs")
    for node in ccbs.iter("ccb") if ccbs is not None else ():
        report.warn(
            node.where, "frontend", f"CCB {node.attrs.get('node', '?')} not imported (no key)"
        )
