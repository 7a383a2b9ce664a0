"""GlideinWMS factory XML files merged the way GlideinWMS merges them.

A main `glideinWMS.xml` and entry files (`Dev_Sites.xml`, ...) are read in the order
given; an entry defined again in a later file replaces the earlier one, global attrs
of a later file override earlier ones of the same name, and a file without entries
(e.g. condor tarballs only) is fine. Entries may sit in `<entries>`, directly in
`<entry_sets>`, or in `<entry_sets><entry_set><entries>` (then the set's config and
attrs apply to them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aglidein.gwms.dropped import report_factory_root, report_schedds
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import GwmsError, XmlNode, read_xml

__all__ = ["FactoryEntry", "FactorySettings", "Located", "read_factories"]


@dataclass(frozen=True, slots=True)
class Located:
    """A value and where it was read (`file:line`)."""

    value: str
    where: str


@dataclass(frozen=True, slots=True)
class FactoryEntry:
    """One `<entry>` element, with the `<entry_set>` it belongs to (if any)."""

    name: str
    node: XmlNode
    entry_set: XmlNode | None
    overrides: tuple[str, ...] = ()  # where earlier definitions of the same name were


@dataclass
class FactorySettings:
    """Everything read from the factory files, after overrides."""

    sources: list[str] = field(default_factory=list)
    factory_name: Located | None = None
    loop_delay: Located | None = None
    schedd_names: Located | None = None
    global_attrs: dict[str, XmlNode] = field(default_factory=dict)
    entries: dict[str, FactoryEntry] = field(default_factory=dict)
    tarballs: list[XmlNode] = field(default_factory=list)


def _entry_nodes(root: XmlNode) -> list[tuple[XmlNode, XmlNode | None]]:
    found: list[tuple[XmlNode, XmlNode | None]] = []
    for section in root.iter("entries"):
        found.extend((node, None) for node in section.iter("entry"))
    for sets in root.iter("entry_sets"):
        found.extend((node, None) for node in sets.iter("entry"))
        for entry_set in sets.iter("entry_set"):
            for section in entry_set.iter("entries"):
                found.extend((node, entry_set) for node in section.iter("entry"))
    return found


def _merge_file(root: XmlNode, settings: FactorySettings, report: ImportReport) -> None:
    source = root.source
    if root.tag != "glidein":
        raise GwmsError(
            f"{root.where}: not a GlideinWMS factory file: the root element is <{root.tag}>, "
            "expected <glidein>"
            + (" (pass a frontend file with --frontend)" if root.tag == "frontend" else "")
        )
    settings.sources.append(source)
    report_factory_root(root, report)
    report_schedds(root, report)
    for key in ("factory_name", "loop_delay", "schedd_name"):
        if key in root.attrs:
            located = Located(root.attrs[key], root.where)
            if key == "factory_name":
                settings.factory_name = located
            elif key == "loop_delay":
                settings.loop_delay = located
            else:
                settings.schedd_names = located
    attrs = root.child("attrs")
    if attrs is not None:
        for node in attrs.iter("attr"):
            if node.attrs.get("name"):
                settings.global_attrs[node.attrs["name"]] = node
    for tarballs in root.iter("condor_tarballs"):
        settings.tarballs.extend(tarballs.iter("condor_tarball"))
    seen_here: dict[str, XmlNode] = {}
    for node, entry_set in _entry_nodes(root):
        name = node.attrs.get("name", "").strip()
        if not name:
            report.warn(node.where, "entry", "<entry> without a name: skipped")
            continue
        if name in seen_here:
            report.warn(
                node.where,
                f"entry {name}",
                f"defined twice in {source} (also at line {seen_here[name].line}): "
                "the later one is used",
            )
        seen_here[name] = node
        earlier = settings.entries.get(name)
        overrides: tuple[str, ...] = ()
        if earlier is not None:
            overrides = (*earlier.overrides, earlier.node.where)
            report.note(node.where, f"entry {name}", f"overrides the entry at {earlier.node.where}")
        settings.entries[name] = FactoryEntry(name, node, entry_set, overrides)


def read_factories(paths: list[str | Path], report: ImportReport) -> FactorySettings:
    """Read factory XML files in order; later files override entries of the same name."""
    settings = FactorySettings()
    for path in paths:
        root = read_xml(path)
        _merge_file(root, settings, report)
        if not _entry_nodes(root):
            report.note(root.where, "", "no entries in this file")
    return settings
