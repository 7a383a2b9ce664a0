"""The import report: located findings, warnings first; a summary whose counts add up."""

from __future__ import annotations

from aglidein.gwms.report import ImportReport, ImportSummary


def test_findings_are_located_and_warnings_come_first() -> None:
    report = ImportReport()
    report.note("f.xml:3", "entry A", "kept in gwms")
    report.warn("f.xml:9", "group g", "match_expr not translated")
    report.warn("f.xml:1", "", "no frontend")
    assert [f.where for f in report.warnings] == ["f.xml:9", "f.xml:1"]
    assert report.lines() == [
        "f.xml:9: warning: group g: match_expr not translated",
        "f.xml:1: warning: no frontend",
        "f.xml:3: note: entry A: kept in gwms",
    ]


def test_the_summary_counts_add_up_in_words() -> None:
    summary = ImportSummary(
        entries=5,
        enabled=2,
        disabled_in_gwms=1,
        disabled_by_import={"unsupported gridtype": 1, "no gatekeeper": 1},
        groups=1,
        credentials=0,
        warnings=1,
        notes=2,
        config_warnings=0,
    )
    assert summary.format().splitlines() == [
        "imported 5 entries: 2 enabled, 3 disabled (1 already disabled in GlideinWMS; 2"
        " disabled by the import: 1 no gatekeeper, 1 unsupported gridtype)",
        "imported 1 group, 0 credentials",
        "report: 1 warning, 2 notes; check-config: valid, 0 warnings",
    ]
