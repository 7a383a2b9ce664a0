"""Cycle reporting: the plan's metrics."""

from __future__ import annotations

from aglidein.core.model import Decision, Plan
from aglidein.services.cycle_report import record_plan
from aglidein.services.metrics import Metrics


def test_plan_metrics_show_demand_requests_and_reasons() -> None:
    metrics = Metrics()
    decision = Decision(
        group="main",
        entry="CE_A",
        matching_jobs=7,
        requested_idle=3,
        max_glideins=9,
        limited_by=("ramp_up", "submit_cap"),
    )
    record_plan(metrics, Plan(cycle=1, now=0.0, decisions=(decision,)))
    text = metrics.render().decode()
    assert 'aglidein_idle_jobs{entry="CE_A",group="main"} 7.0' in text
    assert 'aglidein_requested_idle_glideins{entry="CE_A",group="main"} 3.0' in text
    assert 'aglidein_decision_limited{entry="CE_A",group="main",reason="ramp_up"} 1.0' in text
    assert 'aglidein_decision_limited{entry="CE_A",group="main",reason="backoff"} 0.0' in text
    assert (
        'aglidein_decisions_limited_total{entry="CE_A",group="main",reason="submit_cap"} 1.0'
        in text
    )
