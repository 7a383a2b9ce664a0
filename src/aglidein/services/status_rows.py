"""The status document read as rows: one summary row per entry, cuts as text.

Shared by what shows the status: the status pages (services), `aglidein status` and the
demo's live view (shell).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cut_text", "entry_rows", "explained"]


def cut_text(cut: Mapping[str, Any]) -> str:
    """One cut as the operator reads it: `entry.max_glideins: 45 → 40` (`at submit` when
    it cut the submission), its detail after the reason: `downtime (CE upgrade): 20 → 0`,
    `no_demand (no idle job passed job_constraint)`."""
    text = str(cut.get("reason", "?"))
    detail = cut.get("detail")
    if detail:
        text += f" ({detail})"
    before, after = cut.get("from"), cut.get("to")
    if before != after:
        text += f": {before} → {after}"
        if cut.get("what") == "submit":
            text += " at submit"
    return text


def explained(decision: Mapping[str, Any]) -> list[str]:
    """A decision's cuts as text; its bare `limited_by` reasons when it has no cuts (a
    status document from an older daemon)."""
    cuts = decision.get("cuts")
    if isinstance(cuts, list) and cuts:
        return [cut_text(c) for c in cuts if isinstance(c, Mapping)]
    return [str(r) for r in decision.get("limited_by", [])]


def entry_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One summary row per entry: demand, requested, glideins, health, limited_by."""
    rows = []
    for entry in status.get("entries", []):
        decisions = entry.get("decisions", [])
        # Groups that do not want this entry say `no_demand`; when some group does, its
        # reasons are the ones that explain the row.
        wanted = [d for d in decisions if int(d.get("matching_jobs", 0)) > 0]
        limited: list[str] = []
        texts: list[str] = []
        for decision in wanted or decisions:
            for reason in decision.get("limited_by", []):
                if reason not in limited:
                    limited.append(reason)
            for text in explained(decision):
                if text not in texts:
                    texts.append(text)
        glideins = entry.get("glideins", {})
        rows.append(
            {
                "entry": entry["name"],
                "health": entry.get("health", "ok"),
                "backoff_until": entry.get("backoff_until"),
                "demand": sum(int(d.get("matching_jobs", 0)) for d in decisions),
                "requested": sum(int(d.get("requested_idle", 0)) for d in decisions),
                "idle": int(glideins.get("idle", 0)),
                "running": int(glideins.get("running", 0)),
                "held": int(glideins.get("held", 0)),
                "black_hole": int(glideins.get("black_hole", 0)),
                "limited_by": limited,
                "explained": texts,  # limited_by with amounts: `entry.max_idle: 45 → 40`
                "downtime": entry.get("downtime"),
            }
        )
    return rows
