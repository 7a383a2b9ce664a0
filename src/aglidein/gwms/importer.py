"""GlideinWMS factory (+ frontend) XML → one complete aglidein config, validated.

The output is sorted (groups, entries, credentials by name; map keys by name) and has
no timestamps, so the same input gives the same bytes. Keys the XML cannot provide
(state_dir, the pool's trust domain and signing key, ...) get placeholder values
marked `PLACEHOLDER` in a comment. The text is checked with the same code as
`aglidein check-config` before it is returned.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aglidein.config import LoadedConfig, parse_config_text
from aglidein.errors import ConfigError
from aglidein.gwms.attrs import parse_int
from aglidein.gwms.emit import Commented, Node, dump_yaml
from aglidein.gwms.entries import ConvertedEntry, convert_entry
from aglidein.gwms.factory import FactorySettings, Located, read_factories
from aglidein.gwms.frontend import FrontendSettings, read_frontend
from aglidein.gwms.groups import ConvertedGroup, convert_groups
from aglidein.gwms.match import AttrType
from aglidein.gwms.onentries import apply_to_entries, report_frontend_settings
from aglidein.gwms.report import ImportReport, ImportSummary
from aglidein.gwms.xmlread import GwmsError
from aglidein.units import format_duration

__all__ = ["ImportResult", "import_gwms"]

PLACEHOLDER = "PLACEHOLDER"


@dataclass(frozen=True)
class ImportResult:
    """The YAML text, what could not be converted exactly, and the counts."""

    text: str
    report: ImportReport
    summary: ImportSummary
    config_warnings: tuple[str, ...]


def _located(value: Located) -> str:
    return f"from {value.where}"


def _factory_section(settings: FactorySettings, frontend: FrontendSettings | None) -> Node:
    out: dict[str, Node] = {}
    if settings.factory_name is not None:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", settings.factory_name.value)[:128] or "aglidein"
        out["name"] = Commented(name, (f"{_located(settings.factory_name)} factory_name",))
    else:
        out["name"] = Commented(
            "aglidein", (f"{PLACEHOLDER}: the AglideinFactory tag of every glidein",)
        )
    out["state_dir"] = Commented(
        "/var/lib/aglidein", (f"{PLACEHOLDER}: where aglidein keeps its state and logs",)
    )
    delay = settings.loop_delay or (frontend.loop_delay if frontend else None)
    seconds = parse_int(delay.value) if delay is not None else None
    if delay is not None and seconds is not None and seconds > 0:
        out["cycle"] = Commented(format_duration(seconds), (f"{_located(delay)} loop_delay",))
    return out


def _pool_section(settings: FactorySettings, frontend: FrontendSettings | None) -> Node:
    out: dict[str, Node] = {}
    collector = frontend.collector if frontend else None
    if collector is not None:
        out["collector"] = Commented(collector.value, (f"{_located(collector)} (the user pool)",))
        host = collector.value.rsplit(":", 1)[0] if ":" in collector.value else collector.value
    else:
        out["collector"] = Commented(
            "cm.example.org:9618", (f"{PLACEHOLDER}: the collector of the pool glideins join",)
        )
        host = "cm.example.org"
    out["trust_domain"] = Commented(
        host,
        (
            f"{PLACEHOLDER}: your pool's TRUST_DOMAIN (HTCondor's default is the collector "
            "host); not the GlideinWMS trust_domain",
        ),
    )
    out["signing_key"] = Commented(
        "/etc/condor/passwords.d/POOL",
        (f"{PLACEHOLDER}: the pool signing key that glidein IDTOKENs are minted from",),
    )
    schedds = f"; GlideinWMS used {settings.schedd_names.value}" if settings.schedd_names else ""
    out["factory_schedd"] = Commented(
        "local", (f"{PLACEHOLDER}: the schedd that holds the glidein grid jobs{schedds}",)
    )
    return out


def _entries(
    settings: FactorySettings, frontend: FrontendSettings | None, report: ImportReport
) -> list[ConvertedEntry]:
    global_attrs = list(settings.global_attrs.values())
    index = frontend.credential_index if frontend else {}
    converted: dict[str, ConvertedEntry] = {}
    for name in sorted(settings.entries):
        entry = convert_entry(settings.entries[name], global_attrs, index, report)
        final, suffix = entry.name, 2
        while final in converted:
            final, suffix = f"{entry.name}_{suffix}", suffix + 1
        if final != entry.name:
            report.warn(
                _entry_where(settings, name), f"entry {name}", f"name taken: renamed {final}"
            )
            body = entry.node.value if isinstance(entry.node, Commented) else entry.node
            if isinstance(body, dict):
                body["name"] = final
                body.setdefault("gwms_names", [name])
            entry = ConvertedEntry(
                final,
                entry.node,
                entry.enabled,
                entry.disabled_in_gwms,
                entry.import_reason,
                entry.attr_types,
                entry.where,
            )
        converted[final] = entry
    for tarball in settings.tarballs:
        values = " ".join(f"{k}={v}" for k, v in sorted(tarball.attrs.items()))
        report.note(
            tarball.where,
            "factory",
            f"<condor_tarball {values}> not imported: set factory.glidein.condor_tarball to one "
            "tarball file, or leave it null to use HTCondor on the node",
        )
    return [converted[name] for name in sorted(converted)]


def _entry_where(settings: FactorySettings, name: str) -> str:
    """`file:line` of an imported entry's XML."""
    return settings.entries[name].node.where


def _glidein_types(entries: list[ConvertedEntry]) -> dict[str, AttrType]:
    types: dict[str, AttrType] = {}
    for entry in entries:
        if not entry.enabled:
            continue
        for name, kind in entry.attr_types.items():
            types[name] = kind if types.get(name, kind) == kind else "unknown"
    return types


def _summary(
    entries: list[ConvertedEntry],
    groups: list[ConvertedGroup],
    credentials: int,
    report: ImportReport,
    config_warnings: int,
) -> ImportSummary:
    # only entries GlideinWMS had enabled: the two kinds of disabled add up to the total
    reasons = Counter(
        e.import_reason for e in entries if e.import_reason and not e.disabled_in_gwms
    )
    return ImportSummary(
        entries=len(entries),
        enabled=sum(e.enabled for e in entries),
        disabled_in_gwms=sum(e.disabled_in_gwms for e in entries),
        disabled_by_import=dict(reasons),
        groups=len(groups),
        credentials=credentials,
        warnings=len(report.warnings),
        notes=len(report.findings) - len(report.warnings),
        config_warnings=config_warnings,
    )


def _validate(text: str, output_name: str) -> LoadedConfig:
    """Run exactly what `aglidein check-config` runs on the text."""
    try:
        return parse_config_text(text, source=output_name)
    except ConfigError as exc:  # a bug in the importer, never the input
        raise GwmsError(f"internal error: the generated config does not validate:\n{exc}") from None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while building big trees of long-lived objects.

    The cycle collector would rescan every XML node and YAML value again and again (a
    5,000-entry import spends most of its time there); nothing here makes cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_gwms(
    factory_files: Sequence[str | Path],
    frontend_file: str | Path | None = None,
    *,
    output_name: str = "<output>",
) -> ImportResult:
    """Convert GlideinWMS XML to aglidein YAML; raises GwmsError on unreadable input."""
    if not factory_files:
        raise GwmsError("import-gwms needs at least one factory XML file")
    with _gc_paused():
        return _import(factory_files, frontend_file, output_name)


def _import(
    factory_files: Sequence[str | Path], frontend_file: str | Path | None, output_name: str
) -> ImportResult:
    report = ImportReport()
    frontend = read_frontend(frontend_file, report) if frontend_file is not None else None
    settings = read_factories(list(factory_files), report)
    entries = _entries(settings, frontend, report)
    groups = convert_groups(frontend, _glidein_types(entries), report) if frontend else []
    if frontend is not None:
        apply_to_entries(frontend.root, entries, [g.name for g in groups], report)
    else:
        report_frontend_settings(entries, report)
    credentials = frontend.credentials if frontend else []
    document: dict[str, Node] = {
        "factory": _factory_section(settings, frontend),
        "pool": _pool_section(settings, frontend),
    }
    if settings.factory_name is not None:
        document["migration"] = {
            "gwms_factory": Commented(
                settings.factory_name.value,
                (
                    f"{_located(settings.factory_name)} factory_name: while both factories "
                    "run, its glideins in the collector count against the entries' limits; "
                    "null once it is switched off",
                ),
            )
        }
    document |= {
        "groups": [group.node for group in groups],
        "entries": [entry.node for entry in entries],
        "credentials": list(credentials),
    }
    header = (
        "aglidein configuration imported from GlideinWMS by `aglidein import-gwms`.",
        "factory files, in override order: " + ", ".join(str(f) for f in factory_files),
        f"frontend file: {frontend_file}" if frontend_file is not None else "no frontend file",
        "Review every PLACEHOLDER, DISABLED and UNTRANSLATED comment before `aglidein run`.",
    )
    text = dump_yaml(document, header)
    loaded = _validate(text, output_name)
    summary = _summary(entries, groups, len(credentials), report, len(loaded.warnings))
    return ImportResult(text, report, summary, loaded.warnings)
