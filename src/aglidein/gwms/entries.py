"""One GlideinWMS factory entry → one aglidein `entries[]` item (DESIGN §4). Mapped:
name, enabled, gridtype + gatekeeper (+ batch system), auth_method → auth.method (+ a
frontend credential of the same trust_domain and type), attrs with their types, max_jobs
→ limits (the smaller of per_entry and default_per_frontend), submit / release / remove
→ submit, submit_attrs, GLIDEIN_Max_Walltime and GLIDEIN_Retire_Time → glidein. What has
no aglidein key goes to the entry's `gwms` map (per_frontends and allow_frontends are
mapped from there with the frontend, in `gwms.onentries`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aglidein.gridtypes import GRIDTYPES, from_gwms
from aglidein.gwms.attrs import AttrValue, ConvertedAttrs, convert_attrs, parse_int
from aglidein.gwms.emit import Commented, Node
from aglidein.gwms.factory import FactoryEntry
from aglidein.gwms.match import AttrType
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import XmlNode, parse_bool
from aglidein.units import format_duration

__all__ = [
    "ConvertedEntry",
    "CredentialIndex",
    "auth_method_for",
    "convert_entry",
]

# GlideinWMS defaults (factory_defaults.xml) for what an entry leaves out.
_PER_ENTRY = {"glideins": 10_000, "idle": 2_000, "held": 1_000}
_PER_FRONTEND = {"glideins": 5_000, "idle": 100, "held": 50}
_LIMIT_KEYS = (("glideins", "max_glideins"), ("idle", "max_idle"), ("held", "max_held"))
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# Entry XML attributes that become aglidein keys; every other one is kept in `gwms`.
_MAPPED = {"name", "enabled", "gatekeeper"}
# Entry `<config>` attributes the import uses (or reports on its own); _ALL: the element.
_ALL: frozenset[str] = frozenset({"*"})
_CONFIG_USED: dict[str, frozenset[str]] = {
    "max_jobs": _ALL,
    "restrictions": _ALL,
    "submit": frozenset({"cluster_size", "max_per_cycle", "slots_layout"}),
    "release": frozenset({"max_per_cycle"}),
    "remove": frozenset({"max_per_cycle"}),
}
# Kept in `gwms` and used by the import or reported on their own.
_EXPLAINED = {"gridtype", "auth_method", "trust_domain", "proxy_url", "schedd_name"}

CredentialIndex = Mapping[tuple[str, str], list[str]]


@dataclass(frozen=True)
class ConvertedEntry:
    """An entries[] item ready to emit, with what the summary and the groups need."""

    name: str
    node: Node
    enabled: bool
    disabled_in_gwms: bool
    import_reason: str | None  # why the import disabled it (summary category)
    attr_types: dict[str, AttrType]
    where: str = ""  # file:line of the entry's XML


def auth_method_for(gwms_method: str, gridtype: str) -> str | None:
    """The aglidein auth.method of one GlideinWMS auth_method part, None if none fits."""
    if gwms_method == "scitoken":
        return "scitoken"
    if gwms_method == "grid_proxy":
        return "x509"
    if gwms_method == "key_pair" and _key_pair_is_ssh(gridtype):
        return "ssh"  # BOSCO: the key pair is the SSH key of the remote login
    return None


def _key_pair_is_ssh(gridtype: str) -> bool:
    row = GRIDTYPES.get(gridtype)
    return row is not None and row.gwms_key_pair_is_ssh


class _EntryConverter:
    def __init__(
        self,
        entry: FactoryEntry,
        global_attrs: list[XmlNode],
        credentials: CredentialIndex,
        report: ImportReport,
    ) -> None:
        self.entry = entry
        self.node = entry.node
        self.global_attrs = global_attrs
        self.credentials = credentials
        self.report = report
        self.subject = f"entry {entry.name}"
        self.gwms: dict[str, Node] = {}
        self.reason: str | None = None
        self.reason_text: str | None = None

    def warn(self, message: str, where: str | None = None) -> None:
        self.report.warn(where or self.node.where, self.subject, message)

    def disable(self, category: str, text: str) -> None:
        if self.reason is None:
            self.reason, self.reason_text = category, text
        self.warn(f"imported disabled: {text}")

    def section(self, *tags: str) -> XmlNode | None:
        """An element of the entry, else of its entry_set."""
        found = self.node.path(*tags)
        if found is None and self.entry.entry_set is not None:
            found = self.entry.entry_set.path(*tags)
        return found

    def convert(self) -> ConvertedEntry:
        xml = self.node.attrs
        name = self.entry.name
        if not _NAME.fullmatch(name):
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:128]
            self.gwms["name"] = self.entry.name
            self.warn(f"name is not a valid aglidein name: renamed {name}")
        enabled_xml = parse_bool(xml.get("enabled"), True)
        if enabled_xml is None:
            self.warn(f"enabled={xml.get('enabled')!r} is not a boolean: imported disabled")
            enabled_xml = False
        for key, value in sorted(xml.items()):
            if key not in _MAPPED:
                self.gwms[key] = value
        if self.entry.entry_set is not None:
            self.gwms["entry_set"] = self.entry.entry_set.attrs.get("alias_prefix") or (
                self.entry.entry_set.where
            )
        body: dict[str, Node] = {"name": name}
        grid = self.gridtype(body)
        self.auth(body, grid)
        attrs = self.attrs()
        if attrs and attrs.values:
            body["attrs"] = dict(sorted(attrs.values.items()))
        body["limits"] = self.limits()
        submit = self.submit()
        if submit:
            body["submit"] = submit
        glidein = self.glidein(attrs.values if attrs else {})
        if glidein:
            body["glidein"] = glidein
        submit_attrs = self.submit_attrs()
        if submit_attrs:
            body["submit_attrs"] = submit_attrs
        if attrs and attrs.expressions:
            self.gwms["expr_attrs"] = dict(sorted(attrs.expressions.items()))
        self.unmapped_children()
        self.unmapped_keys()
        self.unmapped_config()
        enabled = enabled_xml and self.reason is None
        body = {"name": body.pop("name"), "enabled": enabled, **body}
        if name != self.entry.name:  # its glideins carry the GlideinWMS name (migration)
            body["gwms_names"] = [self.entry.name]
        body["gwms"] = dict(sorted(self.gwms.items()))
        comments = [f"from {self.node.where}"]
        if self.entry.overrides:
            comments[0] += " (overrides " + ", ".join(self.entry.overrides) + ")"
        if not enabled_xml:
            comments.append("disabled in GlideinWMS")
            if self.reason_text:  # counted as disabled in GlideinWMS, not by the import
                comments.append(f"could not be enabled either: {self.reason_text}")
        elif self.reason_text:
            comments.append(f"DISABLED by the import: {self.reason_text}")
        return ConvertedEntry(
            name=name,
            node=Commented(body, tuple(comments)),
            enabled=enabled,
            disabled_in_gwms=not enabled_xml,
            import_reason=self.reason,
            attr_types=dict(attrs.types) if attrs else {},
            where=self.node.where,
        )

    def gridtype(self, body: dict[str, Node]) -> str:
        raw = self.node.attrs.get("gridtype", "condor")  # the GlideinWMS default
        gatekeeper = self.node.attrs.get("gatekeeper", "").strip()
        self.gwms["gridtype"] = raw
        grid = "unsupported"
        found = from_gwms(raw)
        if found is None:
            self.disable("unsupported gridtype", f"gridtype {raw!r} is not supported by aglidein")
        elif found[0].batch:
            if "@" in gatekeeper:
                grid = found[0].name
                body["batch_system"] = found[1]
            elif gatekeeper:
                self.disable(
                    "batch gatekeeper", f"batch gatekeeper {gatekeeper!r} is not user@host"
                )
        else:
            grid = found[0].name
            if grid == "condor" and gatekeeper and len(gatekeeper.split()) != 2:
                self.warn(
                    f"HTCondor-CE gatekeeper {gatekeeper!r} is not 'host host:port' "
                    "(e.g. 'ce.example.org ce.example.org:9619')"
                )
        if not gatekeeper:
            if grid != "unsupported":
                self.disable("no gatekeeper", "the entry has no gatekeeper")
                body.pop("batch_system", None)
                grid = "unsupported"
            gatekeeper = "none"  # the config model wants one for every non-local gridtype
        body["gridtype"] = grid
        body["gatekeeper"] = gatekeeper
        if "batch_system" in body:  # keep the key order of DESIGN §4
            body["batch_system"] = body.pop("batch_system")
        return grid

    def auth(self, body: dict[str, Node], grid: str) -> None:
        raw = self.node.attrs.get("auth_method")
        if raw is None:
            raw = "grid_proxy"  # the GlideinWMS default
            self.report.note(
                self.node.where, self.subject, "no auth_method: GlideinWMS default grid_proxy"
            )
        parts = [p.strip() for p in re.split(r"[+;]", raw) if p.strip()]
        first = parts[0] if parts else ""
        if len(parts) > 1:
            self.warn(
                f"compound auth_method {raw!r}: imported as {first!r}; "
                f"{', '.join(parts[1:])} not carried over (kept in gwms.auth_method)"
            )
        method = auth_method_for(first, grid)
        if method is None:
            if grid == "unsupported":
                return
            method = "ssh" if _key_pair_is_ssh(grid) else "scitoken"
            self.disable(
                "unmapped auth_method",
                f"auth_method {first!r} has no aglidein equivalent; set to {method}, check it",
            )
        auth: dict[str, Node] = {"method": method}
        trust_domain = self.node.attrs.get("trust_domain", "grid")  # the GlideinWMS default
        names = self.credentials.get((trust_domain, method), [])
        if len(names) == 1:
            auth["credential"] = names[0]
        elif not names and grid != "unsupported":
            self.report.note(
                self.node.where,
                self.subject,
                f"no frontend credential of type {method} with trust_domain {trust_domain!r}: "
                "auth.credential left unset (check-config warns; add one)",
            )
        elif names:
            self.warn(
                f"frontend credentials {', '.join(names)} all fit trust_domain {trust_domain!r} "
                f"and {method}: choose one for auth.credential"
            )
        body["auth"] = auth

    def attrs(self) -> ConvertedAttrs | None:
        nodes = list(self.global_attrs)
        for holder in (self.entry.entry_set, self.node):
            section = holder.child("attrs") if holder is not None else None
            if section is not None:
                nodes.extend(section.iter("attr"))
        return convert_attrs(nodes, self.subject, self.report) if nodes else None

    def limits(self) -> Node:
        max_jobs = self.section("config", "max_jobs")
        per_entry = max_jobs.child("per_entry") if max_jobs is not None else None
        per_frontend = max_jobs.child("default_per_frontend") if max_jobs is not None else None
        nodes = ((per_entry, _PER_ENTRY), (per_frontend, _PER_FRONTEND))
        limits: dict[str, Node] = {
            key: min(self.limit(node, gwms_key, defaults) for node, defaults in nodes)
            for gwms_key, key in _LIMIT_KEYS
        }
        section = max_jobs.child("per_frontends") if max_jobs is not None else None
        per_frontends: dict[str, Node] = {}
        for node in section.iter("per_frontend") if section is not None else ():
            name = node.attrs.get("name", f"line {node.line}")
            per_frontends[name] = {k: v for k, v in sorted(node.attrs.items()) if k != "name"}
        if per_frontends:  # mapped to group_limits with the frontend (gwms.onentries)
            self.gwms["per_frontends"] = dict(sorted(per_frontends.items()))
        return Commented(
            limits, ("the smaller of GlideinWMS max_jobs per_entry and default_per_frontend",)
        )

    def limit(self, node: XmlNode | None, key: str, defaults: Mapping[str, int]) -> int:
        if node is None or key not in node.attrs:
            return defaults[key]
        value = parse_int(node.attrs[key])
        if value is None or value < 0:
            self.warn(
                f"max_jobs {node.tag} {key}={node.attrs[key]!r} is not a count: "
                f"GlideinWMS default {defaults[key]} used",
                node.where,
            )
            return defaults[key]
        return value

    def submit(self) -> dict[str, Node]:
        out: dict[str, Node] = {}
        fields = (
            (("config", "submit"), "cluster_size", "cluster_size", 1),
            (("config", "submit"), "max_per_cycle", "max_per_cycle", 0),
            (("config", "release"), "max_per_cycle", "release_per_cycle", 0),
            (("config", "remove"), "max_per_cycle", "remove_per_cycle", 0),
        )
        for tags, gwms_key, key, minimum in fields:
            node = self.section(*tags)
            if node is None or gwms_key not in node.attrs:
                continue
            value = parse_int(node.attrs[gwms_key])
            if value is None or value < minimum:
                self.warn(
                    f"<{node.tag} {gwms_key}={node.attrs[gwms_key]!r}> is not a count >= "
                    f"{minimum}: "
                    "the factory default is used",
                    node.where,
                )
                continue
            out[key] = value
        submit = self.section("config", "submit")
        if submit is not None and "slots_layout" in submit.attrs:
            self.gwms["slots_layout"] = submit.attrs["slots_layout"]
        return out

    def glidein(self, attrs: Mapping[str, AttrValue]) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for attr, key in (
            ("GLIDEIN_Max_Walltime", "max_walltime"),
            ("GLIDEIN_Retire_Time", "retire_after"),
        ):
            value = attrs.get(attr)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                out[key] = format_duration(value)
        return out

    def submit_attrs(self) -> dict[str, Node]:
        section = self.section("config", "submit", "submit_attrs")
        out: dict[str, Node] = {}
        if section is None:
            return out
        for node in section.iter("submit_attr"):
            name, value = node.attrs.get("name"), node.attrs.get("value")
            if not name or value is None:
                self.warn("<submit_attr> without name or value: skipped", node.where)
                continue
            if "$ENV(" in value:
                self.warn(
                    f"submit_attr {name} uses {value!r}: GlideinWMS set those environment "
                    "variables at submit time, aglidein does not",
                    node.where,
                )
            number = parse_int(value) if re.fullmatch(r"-?\d+", value.strip()) else None
            out[name] = number if number is not None else value
        return dict(sorted(out.items()))

    def unmapped_keys(self) -> None:
        """Entry XML attributes kept in `gwms` only: aglidein does not act on them."""
        xml = self.node.attrs
        if xml.get("proxy_url", "").strip():
            self.warn(
                f"proxy_url={xml['proxy_url']!r} not imported: the aglidein pilot sets no HTTP "
                "proxy for the glidein (kept in gwms.proxy_url)"
            )
        submit = self.section("config", "submit")
        layout = submit.attrs.get("slots_layout") if submit is not None else None
        if layout is not None:
            self.report.warn(
                submit.where if submit is not None else self.node.where,
                self.subject,
                f"slots_layout={layout!r} not imported: the aglidein pilot lays out its own "
                "slots (kept in gwms.slots_layout)",
            )
        if xml.get("schedd_name", "").strip():
            self.report.note(
                self.node.where,
                self.subject,
                f"schedd_name={xml['schedd_name']!r} not imported: aglidein submits to "
                "pool.factory_schedd",
            )
        rest = sorted(set(xml) - _MAPPED - _EXPLAINED)
        if rest:
            listed = ", ".join(f"{key}={xml[key]!r}" for key in rest)
            self.report.note(
                self.node.where, self.subject, f"kept in gwms only, not acted on: {listed}"
            )

    def unmapped_config(self) -> None:
        """`<config>` settings of the entry the import does not use, in one note."""
        config = self.section("config")
        dropped: list[str] = []
        for element in config.children if config is not None else []:
            used = _CONFIG_USED.get(element.tag, frozenset())
            if used is _ALL:
                continue
            values = " ".join(
                f"{k}={v!r}" for k, v in sorted(element.attrs.items()) if k not in used
            )
            if values:
                dropped.append(f"<{element.tag} {values}>")
            elif element.tag not in _CONFIG_USED:
                dropped.append(f"<{element.tag}>")
        if dropped:
            self.report.note(
                config.where if config is not None else self.node.where,
                self.subject,
                f"config not imported (no aglidein key): {', '.join(dropped)}",
            )

    def unmapped_children(self) -> None:
        allowed = self.section("allow_frontends")  # mapped with the frontend (onentries)
        if allowed is not None and allowed.children:
            names = {n.attrs.get("name", "?") for n in allowed.iter("allow_frontend")}
            self.gwms["allow_frontends"] = list[Node](sorted(names))
        for tag in ("files", "infosys_refs", "monitorgroups"):
            node = self.section(tag)
            if node is not None and node.children:
                self.report.note(
                    node.where,
                    self.subject,
                    f"{len(node.children)} {tag} not imported (no aglidein equivalent)",
                )
        restrictions = self.section("config", "restrictions")
        if restrictions is not None:
            for key, value in sorted(restrictions.attrs.items()):
                if parse_bool(value, False):
                    self.warn(
                        f"restriction {key}=True is not enforced by aglidein", restrictions.where
                    )


def convert_entry(
    entry: FactoryEntry,
    global_attrs: list[XmlNode],
    credentials: CredentialIndex,
    report: ImportReport,
) -> ConvertedEntry:
    """Convert one factory entry; global attrs come first and entry attrs override them."""
    return _EntryConverter(entry, global_attrs, credentials, report).convert()
