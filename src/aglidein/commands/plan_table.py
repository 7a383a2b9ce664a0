"""The `aglidein plan` table, from decision rows (`Decision.as_dict()`, the rows of
`/api/v1/status`): a fresh plan and `plan --url` print the same table."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from aglidein.statusview import explained

__all__ = ["decision_rows_of_status", "print_decisions"]

_COLUMNS = (
    "group",
    "entry",
    "matching",
    "share",
    "only here",
    "running jobs",
    "idle/run/held glideins",
    "requested idle",
    "submit",
    "max",
    "remove",
    "limited by",
)


def decision_rows_of_status(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The decision rows of a status document (every entry's, group by group)."""
    rows = [
        dict(row)
        for entry in status.get("entries", [])
        for row in entry.get("decisions", [])
        if isinstance(row, Mapping) and "group" in row
    ]
    return sorted(rows, key=lambda r: (str(r["group"]), str(r.get("entry", ""))))


def _cell(row: Mapping[str, Any], key: str) -> str:
    return str(row.get(key, 0))


def print_decisions(rows: Sequence[Mapping[str, Any]], title: str, footer: str) -> None:
    """The decisions as a table on stdout, `limited by` with the amounts of every cut."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in _COLUMNS:
        justify = "left" if column in ("group", "entry", "limited by") else "right"
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        glideins = "/".join(
            _cell(row, k) for k in ("idle_glideins", "running_glideins", "held_glideins")
        )
        if row.get("old_glideins"):  # the old factory's, running at the entry (migration)
            glideins += f" +{row['old_glideins']} old"
        table.add_row(
            str(row.get("group", "")),
            str(row.get("entry", "")),
            _cell(row, "matching_jobs"),
            f"{float(row.get('unique_share', 0.0)):.1f}",
            _cell(row, "only_here"),
            _cell(row, "running_jobs"),
            glideins,
            _cell(row, "requested_idle"),
            _cell(row, "submit"),
            _cell(row, "max_glideins"),
            _cell(row, "remove_idle"),
            ", ".join(explained(row)),
        )
    console = Console(width=max(Console().width, 240) if not sys.stdout.isatty() else None)
    console.print(table)
    console.print(footer)
