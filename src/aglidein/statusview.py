"""The status table (`aglidein status`, the demo's live view) from a status document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from aglidein.services.status_rows import cut_text, entry_rows, explained
from aglidein.statuscheck import pool_table

__all__ = [
    "accounting_table",
    "config_drift",
    "cut_text",
    "entry_rows",
    "explained",
    "status_renderable",
]

_HEALTH_STYLE = {"ok": "green", "backoff": "bold red", "disabled": "dim", "draining": "yellow"}
_DOWNTIME_STYLE = "yellow"


def config_drift(status: Mapping[str, Any]) -> str | None:
    """A line when the config file on disk is not the config in force, else None."""
    config = status.get("config")
    if not isinstance(config, Mapping) or config.get("file_matches") is not False:
        return None  # the same file, or a config that came from no file
    path = config.get("path") or "the config file"
    last = config.get("last_reload")
    if config.get("file_sha256") is None:
        line = f"config: {path} cannot be read; the daemon runs the config it loaded before"
    else:
        line = f"config: {path} differs from the config in force"
    if isinstance(last, Mapping) and not last.get("ok", True):
        errors = last.get("errors") or []
        line += f"; the last reload ({last.get('at')}) was refused"
        if errors:
            line += f": {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
    else:
        line += " (run aglidein reload)"
    return line


def _downtime_health(downtime: Mapping[str, Any]) -> str:
    """`downtime until 06:00:00` (`downtime (group g)` when it stops one group only)."""
    text = "downtime" + (f" (group {downtime['group']})" if downtime.get("group") else "")
    end = downtime.get("end")
    return text + (f" until {str(end)[11:19]}" if end else "")


def _downtime_table(downtimes: list[Mapping[str, Any]]) -> Table:
    table = Table(title="downtimes", header_style="bold")
    for column in ("id", "entry", "group", "start", "end", "state", "comment"):
        table.add_column(column)
    for d in downtimes:
        table.add_row(
            str(d.get("id")),
            str(d.get("entry")),
            d.get("group") or "all",
            d.get("start") or "",
            d.get("end") or "until ended",
            d.get("state") or "",
            d.get("comment") or "",
        )
    return table


def _entries_table(status: Mapping[str, Any]) -> Table:
    entries = Table(title="entries", expand=False, header_style="bold")
    for column, justify in (
        ("entry", "left"),
        ("health", "left"),
        ("demand", "right"),
        ("requested", "right"),
        ("idle", "right"),
        ("running", "right"),
        ("held", "right"),
        ("black hole", "right"),
        ("limited_by", "left"),
    ):
        entries.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in entry_rows(status):
        health = row["health"]
        if health == "backoff" and row["backoff_until"]:
            health = f"backoff until {str(row['backoff_until'])[11:19]}"
        elif health == "ok" and row["downtime"]:
            health = _downtime_health(row["downtime"])
        entries.add_row(
            row["entry"],
            Text(
                health,
                style=_DOWNTIME_STYLE
                if row["health"] == "ok" and row["downtime"]
                else _HEALTH_STYLE.get(row["health"], ""),
            ),
            str(row["demand"]),
            str(row["requested"]),
            str(row["idle"]),
            str(row["running"]),
            str(row["held"]),
            str(row["black_hole"]),
            ", ".join(row["explained"]),
        )
    return entries


def status_renderable(status: Mapping[str, Any]) -> Group:
    """A rich renderable: a header line, the entries table, schedds and credentials."""
    factory = status.get("factory", {})
    cycle = factory.get("cycle", {})
    duration = cycle.get("duration_s")
    header = Text.assemble(
        (f"{factory.get('name', '?')}", "bold"),
        f"  aglidein {factory.get('version', '?')}  cycle {cycle.get('number', 0)}",
        f" ({duration:.2f}s)" if isinstance(duration, int | float) else "",
        f"  started {factory.get('started', '?')}",
    )
    entries = _entries_table(status)
    parts: list[Any] = [header]
    drift = config_drift(status)
    if drift:
        parts.append(Text(drift, style="bold yellow"))
    parts.append(entries)
    downtimes = status.get("downtimes", [])
    if downtimes:
        parts.append(_downtime_table(downtimes))
    pool = pool_table(status)
    if pool is not None:
        parts.append(pool)
    for table in (_schedds_table(status), _credentials_table(status), accounting_table(status)):
        if table is not None:
            parts.append(table)
    return Group(*parts)


def _schedds_table(status: Mapping[str, Any]) -> Table | None:
    schedds = status.get("schedds", [])
    if not schedds:
        return None
    table = Table(title="schedds", header_style="bold")
    for column in ("schedd", "group", "ok", "stale cycles", "last error"):
        table.add_column(column)
    for s in schedds:
        table.add_row(
            s["name"],
            s["group"],
            Text("yes", style="green") if s["ok"] else Text("no", style="red"),
            str(s.get("stale_cycles", 0)),
            s.get("last_error") or "",
        )
    return table


def _credentials_table(status: Mapping[str, Any]) -> Table | None:
    credentials = status.get("credentials", [])
    if not credentials:
        return None
    table = Table(title="credentials", header_style="bold")
    for column in ("credential", "type", "expires", "last renewal", "last error"):
        table.add_column(column)
    for c in credentials:
        table.add_row(
            c["name"],
            c["type"],
            c.get("expires") or "",
            c.get("last_renewal") or "",
            c.get("last_error") or "",
        )
    return table


def accounting_table(status: Mapping[str, Any]) -> Table | None:
    """Per-group accounting (`accounting` rows): hours by (group, entry); None when empty."""
    rows = status.get("accounting") or []
    if not rows:
        return None
    since = min(str(r.get("since") or "") for r in rows)
    table = Table(title=f"accounting since {since}", header_style="bold")
    for column, justify in (
        ("group", "left"),
        ("entry", "left"),
        ("glidein h", "right"),
        ("job h", "right"),
        ("badput h", "right"),
        ("badput %", "right"),
        ("validation failures", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        wall = float(r.get("glidein_hours") or 0.0)
        badput = float(r.get("badput_hours") or 0.0)
        table.add_row(
            str(r.get("group", "")),
            str(r.get("entry", "")),
            f"{wall:.2f}",
            f"{float(r.get('job_hours') or 0.0):.2f}",
            f"{badput:.2f}",
            f"{100 * badput / wall:.0f}" if wall > 0 else "",
            str(r.get("validation_failures", 0)),
        )
    return table
