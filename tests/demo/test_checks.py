"""The demo's checks: what makes them hold, and a summary that names what failed."""

from __future__ import annotations

from aglidein.core.model import EntryHealth
from aglidein.demo.checks import DemoChecks, PilotLogs, submitted_by_entry
from aglidein.demo.view import summary
from aglidein.services.metrics import Metrics

START = 1_000_000.0


def test_nothing_seen_fails_every_check_and_the_summary_names_them() -> None:
    checks = DemoChecks(started=START)
    assert not checks.ok
    lines = summary(checks, elapsed=60, simulated=1800, cycles=30, how="duration reached")
    text = "\n".join(lines)
    assert text.count("[FAIL]") == 3
    assert "3 check(s) failed" in text
    assert "no entry backed off" in text


def test_checks_hold_with_three_entries_a_backoff_and_searchable_pilots() -> None:
    metrics = Metrics()
    for entry, count in (("A", 10), ("B", 5), ("C", 1)):
        metrics.submissions.labels(entry=entry, result="success").inc(count)
    metrics.submissions.labels(entry="D", result="failure").inc(5)
    checks = DemoChecks(started=START)
    checks.submitted = submitted_by_entry(metrics)
    assert checks.submitted == {"A": 10, "B": 5, "C": 1}
    checks.observe_health(
        {
            "B": EntryHealth(
                entry="B",
                backoff_until=START + 300,
                failures=1,
                last_failure=START + 60,
                last_failure_reason="submit_failed",
                last_success=START + 400,
            )
        }
    )
    checks.observe_pilots(
        PilotLogs(
            started=frozenset({"g1", "g2"}),
            found_by_text=frozenset({"g1"}),
            ended=frozenset({"g1"}),
            records=26,
        )
    )
    assert checks.ok
    text = "\n".join(summary(checks, elapsed=60, simulated=1800, cycles=30, how="x"))
    assert "16 glideins to 3 entries" in text
    assert "B: submit_failed x1, recovered" in text
    assert "2 pilots found by event=glidein.start, 1 by q=" in text
    assert "all checks held" in text


def test_a_failure_from_before_the_demo_started_does_not_count() -> None:
    checks = DemoChecks(started=START)
    old = EntryHealth(entry="A", failures=3, last_failure=START - 10, last_failure_reason="x")
    checks.observe_health({"A": old})
    assert checks.backoffs == {}


def test_pilots_found_only_by_event_are_not_enough() -> None:
    checks = DemoChecks(started=START)
    checks.observe_pilots(PilotLogs(started=frozenset({"g1"}), records=3))
    assert not checks.pilots_ok
    checks.observe_pilots(PilotLogs(error="ConnectError: refused"))  # keeps what it saw
    assert "1 pilots found by event=glidein.start, 0 by q=" in checks.results()[2].detail


def test_a_failing_log_api_is_named() -> None:
    checks = DemoChecks(started=START)
    checks.observe_pilots(PilotLogs(error="ConnectError: refused"))
    logs = checks.results()[2]
    assert not logs.ok
    assert logs.detail == "the log API failed: ConnectError: refused"
