"""`aglidein.demo.real_runner` without daemons: what the real demo saw (its checks), the
exits from the metrics, the progress lines, the intro and the closing summary."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from rich.console import Console

from aglidein.demo.checks import PilotLogs
from aglidein.demo.real_runner import (
    RealOutcome,
    RealSeen,
    _Lines,
    exits_by_reason,
    jobs_line,
    real_intro,
    real_summary,
)
from aglidein.demo.realpool import RealDemoSetup, UserJobStats
from aglidein.services.metrics import Metrics

GOOD_JOBS = UserJobStats(
    submitted=6,
    idle=1,
    running=2,
    completed=3,
    on_glideins=3,
    glideins_used=frozenset({"g1", "g2"}),
    slots=2,
)


def _good_seen() -> RealSeen:
    seen = RealSeen(submitted={"SITE_B": 1, "SITE_A": 2}, exits={"idle": 1})
    seen.observe_jobs(GOOD_JOBS)
    seen.pilots = PilotLogs(started=frozenset({"g1", "g2"}), records=42)
    return seen


def test_nothing_seen_fails_every_check() -> None:
    seen = RealSeen()
    assert [c.ok for c in seen.results()] == [False, False, False]
    assert not seen.ok


def test_glideins_that_ran_user_jobs_pass_every_check() -> None:
    seen = _good_seen()
    results = seen.results()
    assert all(c.ok for c in results)
    assert seen.ok
    assert results[0].detail == "3 glideins (SITE_A 2, SITE_B 1)"
    assert results[1].detail == "up to 2 glideins at once"
    assert results[2].detail == "3 of 6 user jobs, on 2 glideins"


def test_a_failed_query_keeps_the_last_good_answer_and_still_counts_slots() -> None:
    seen = _good_seen()
    seen.observe_jobs(UserJobStats(slots=5, error="schedd timed out"))
    assert seen.jobs == GOOD_JOBS
    assert seen.max_slots == 5
    seen.observe_jobs(UserJobStats(slots=0))  # a good answer replaces it, the max stays
    assert seen.jobs.submitted == 0
    assert seen.max_slots == 5


def test_an_error_before_any_good_answer_is_kept_and_reported() -> None:
    seen = RealSeen()
    seen.observe_jobs(UserJobStats(error="no schedd"))
    assert seen.jobs.error == "no schedd"
    assert "(last query failed: no schedd)" in seen.results()[2].detail


def test_exits_by_reason_sums_over_entries_and_groups() -> None:
    metrics = Metrics()
    assert exits_by_reason(metrics) == {}
    metrics.glidein_exits.labels(group="g", entry="A", reason="idle").inc(2)
    metrics.glidein_exits.labels(group="h", entry="B", reason="idle").inc()
    metrics.glidein_exits.labels(group="g", entry="B", reason="held").inc()
    assert exits_by_reason(metrics) == {"idle": 3, "held": 1}


def test_jobs_line() -> None:
    assert jobs_line(_good_seen()) == (
        "user jobs: 6 submitted, 1 idle, 2 running, 3 done on glideins; glideins in the "
        "VO pool 2; glideins submitted 3, exited: idle 1"
    )
    assert jobs_line(RealSeen()).endswith("glideins submitted 0, exited: none")


def test_progress_lines_sum_the_entries_and_come_every_few_seconds() -> None:
    out = io.StringIO()
    lines = _Lines(Console(file=out, width=300), every=10)
    status: dict[str, Any] = {
        "factory": {"cycle": {"number": 7}},
        "entries": [
            {"name": "SITE_A", "glideins": {"idle": 1, "running": 2, "held": 0}},
            {"name": "SITE_B", "glideins": {"idle": 3, "running": 0, "held": 1}},
        ],
    }
    seen = RealSeen()
    lines.show(0.0, status, seen)
    lines.show(5.0, status, seen)  # not due yet
    lines.show(10.0, {}, seen)
    printed = out.getvalue().splitlines()
    assert len(printed) == 2
    assert printed[0].startswith("[  0s] cycle 7: glideins idle 4 running 2 held 1; user jobs:")
    assert printed[1].startswith("[ 10s] cycle 0: glideins idle 0 running 0 held 0;")


def test_the_intro_says_where_everything_is() -> None:
    vo = SimpleNamespace(
        collector="127.0.0.1:9001", schedd_name="vo@vo.test", config_path=Path("/b/vo/cfg")
    )
    topology = SimpleNamespace(vo=vo, gatekeeper="site@site.test 127.0.0.1:9002", base="/b")
    setup = cast(
        RealDemoSetup, SimpleNamespace(base_url="http://127.0.0.1:8080", topology=topology)
    )
    lines = real_intro(setup, 90)
    assert "running for 90 s" in lines[0]
    assert "collector 127.0.0.1:9001, schedd vo@vo.test" in lines[1]
    assert "site@site.test 127.0.0.1:9002" in lines[2]
    assert "http://127.0.0.1:8080/api/v1/status" in lines[3]
    assert lines[5].endswith("CONDOR_CONFIG=/b/vo/cfg condor_q -allusers")
    assert "until Ctrl-C" in real_intro(setup, None)[0]


def test_the_summary_of_a_good_run() -> None:
    outcome = RealOutcome(
        seen=_good_seen(), daemon_status=0, elapsed=121.4, cycles=30, interrupted=False
    )
    lines = real_summary(outcome, how="duration reached")
    assert lines[1] == "real demo summary: duration reached after 121 s (30 cycles)"
    assert (
        lines[2] == "  user jobs: 6 submitted, 3 completed, 3 of them on glidein slots (2 glideins)"
    )
    assert lines[3] == "  glideins: 3 submitted (SITE_A 2, SITE_B 1); exited by reason: idle 1"
    assert lines[4] == "  pilot logs: 2 glideins logged, 42 records stored"
    assert sum(line.startswith("  [ok  ]") for line in lines) == 3
    assert lines[-1] == "all checks held"


def test_the_summary_of_a_run_that_saw_nothing_names_the_failed_checks() -> None:
    outcome = RealOutcome(seen=RealSeen(), daemon_status=0, elapsed=3, cycles=1, interrupted=True)
    lines = real_summary(outcome, how="interrupted")
    assert "glideins: 0 submitted; exited by reason: none yet" in lines[3]
    assert sum(line.startswith("  [FAIL]") for line in lines) == 3
    assert lines[-1].startswith("3 check(s) failed: glideins submitted to the site")
