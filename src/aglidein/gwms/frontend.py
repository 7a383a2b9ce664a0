"""The GlideinWMS frontend file → aglidein groups, credentials and the pool collector.

Groups: job query_expr (global and group) → `job_constraint`; factory query_expr and
Python match_expr (global and group) → `match` when every part translates with
certainty, else `match: 'false'` (the group asks for nothing until an operator writes
the expression) with the original text in a comment; group limits and curbs → limits.
Credentials: every `<credential>` of a type aglidein knows (grid_proxy → x509,
scitoken, key_pair → ssh) becomes a `credentials[]` item; entries use it when it is
the only one of their trust_domain and auth method (how the frontend picks them).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from aglidein.gwms.attrs import parse_int
from aglidein.gwms.emit import Commented, Node
from aglidein.gwms.factory import Located
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import GwmsError, XmlNode, read_xml

__all__ = ["FrontendSettings", "parse_truth", "read_frontend"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_CREDENTIAL_TYPES = {"grid_proxy": "x509", "scitoken": "scitoken", "key_pair": "ssh"}


@dataclass
class FrontendSettings:
    """What the frontend file gives before entries are known."""

    root: XmlNode
    credentials: list[Node] = field(default_factory=list)
    credential_index: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    collector: Located | None = None
    loop_delay: Located | None = None


def _credential_nodes(root: XmlNode, report: ImportReport) -> list[XmlNode]:
    nodes: list[XmlNode] = []
    section = root.path("security", "credentials")
    if section is not None:
        nodes.extend(section.iter("credential"))
    groups = root.child("groups")
    for group in groups.iter("group") if groups is not None else ():
        section = group.path("security", "credentials")
        if section is not None and section.children:
            nodes.extend(section.iter("credential"))
            report.warn(
                section.where,
                f"group {group.attrs.get('name', '?')}",
                "group credentials become factory-wide credentials[] items: in aglidein a "
                "credential belongs to entries, not to a group",
            )
    return nodes


def _read_credentials(settings: FrontendSettings, report: ImportReport) -> None:
    used: set[str] = set()
    items: list[tuple[str, Node]] = []
    for node in _credential_nodes(settings.root, report):
        subject = "credential " + node.attrs.get("name", node.attrs.get("absfname", "?"))
        raw_type = node.attrs.get("type", "grid_proxy")
        first = re.split(r"[+;]", raw_type)[0].strip()
        kind = _CREDENTIAL_TYPES.get(first)
        if kind is None:
            report.warn(
                node.where, subject, f"type {raw_type!r} has no aglidein equivalent: not imported"
            )
            continue
        path = node.attrs.get("keyabsfname") if kind == "ssh" else None
        path = path or node.attrs.get("absfname")
        if not path:
            report.warn(
                node.where,
                subject,
                "no absfname (generated credentials are not imported): not imported",
            )
            continue
        if not Path(path).is_absolute():
            # GlideinWMS reads it relative to its working directory; the XML's is the
            # best guess, and the config must not depend on where aglidein starts
            resolved = os.path.abspath(Path(node.source).parent / path)
            report.note(
                node.where,
                subject,
                f"relative path {path!r} resolved against the XML's directory: {resolved}",
            )
            path = resolved
        trust_domain = node.attrs.get("trust_domain", "OSG")  # the GlideinWMS default
        base = node.attrs.get("name", "")
        if not _NAME.fullmatch(base):
            base = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{trust_domain}_{kind}")[:120]
        name, suffix = base, 2
        while name in used:
            name, suffix = f"{base}_{suffix}", suffix + 1
        used.add(name)
        item: dict[str, Node] = {"name": name, "type": kind, "path": path}
        comments = [
            f"from {node.where} (type {raw_type}, trust_domain {trust_domain}"
            + (
                f", security_class {node.attrs['security_class']}"
                if "security_class" in node.attrs
                else ""
            )
            + ")"
        ]
        script = node.attrs.get("creation_script")
        if script:
            try:
                item["refresh_command"] = list(shlex.split(script)) or None
            except ValueError:
                report.warn(
                    node.where, subject, f"creation_script {script!r} is not a command line"
                )
        frequency = parse_int(node.attrs.get("update_frequency"))
        if frequency:
            item["min_lifetime"] = f"{frequency}s"
        if "refresh_command" not in item:
            comments.append("no refresh_command: renew this file by other means, or add one")
        for extra in ("pilotabsfname", "pool_idx_list", "project_id", "vm_id", "remote_username"):
            if extra in node.attrs:
                report.note(node.where, subject, f"{extra}={node.attrs[extra]!r} is not imported")
        items.append((name, Commented(item, tuple(comments))))
        settings.credential_index.setdefault((trust_domain, kind), []).append(name)
    settings.credentials = [node for _, node in sorted(items, key=lambda pair: pair[0])]
    for names in settings.credential_index.values():
        names.sort()


def read_frontend(path: str | Path, report: ImportReport) -> FrontendSettings:
    """Read a frontend.xml: credentials, collector, cycle (groups come later)."""
    root = read_xml(path)
    if root.tag != "frontend":
        raise GwmsError(
            f"{root.where}: not a GlideinWMS frontend file: the root element is <{root.tag}>, "
            "expected <frontend>"
        )
    settings = FrontendSettings(root)
    _read_credentials(settings, report)
    collectors = root.child("collectors")
    for node in collectors.iter("collector") if collectors is not None else ():
        if node.attrs.get("node") and not parse_truth(node.attrs.get("secondary")):
            settings.collector = Located(node.attrs["node"], node.where)
            break
    if "loop_delay" in root.attrs:
        settings.loop_delay = Located(root.attrs["loop_delay"], root.where)
    return settings


def parse_truth(text: str | None) -> bool:
    """True for GlideinWMS `True` (any case)."""
    return (text or "").strip().lower() == "true"
