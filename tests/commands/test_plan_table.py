"""The plan table's rows from a status document (`plan --url`)."""

from __future__ import annotations

from aglidein.commands.plan_table import decision_rows_of_status
from aglidein.statusview import cut_text, explained


def test_rows_of_a_status_document_skip_outcome_rows_and_sort() -> None:
    status = {
        "entries": [
            {"name": "B", "decisions": [{"group": "main", "entry": "B"}, {"skipped": ["limit"]}]},
            {"name": "A", "decisions": [{"group": "main", "entry": "A"}]},
        ]
    }
    assert [r["entry"] for r in decision_rows_of_status(status)] == ["A", "B"]


def test_cut_text_and_the_fallback_to_bare_reasons() -> None:
    cut = {"reason": "entry.max_idle", "what": "submit", "from": 45, "to": 40, "limit": 40}
    assert cut_text(cut) == "entry.max_idle: 45 → 40 at submit"
    assert explained({"limited_by": ["backoff"]}) == ["backoff"]  # an older daemon
