from aglidein.core.model import (
    LIMIT_REASONS,
    Decision,
    EntryHealth,
    GlideinState,
    HealthState,
    JobShape,
    OperatorState,
    Plan,
)


def test_limit_reasons_are_the_design_set() -> None:
    assert len(LIMIT_REASONS) == 29  # DESIGN §5's 23, downtime, and the limits of issue 18
    for reason in ("factory.max_running", "entry.allow_groups", "entry.group_limits.max_idle"):
        assert reason in LIMIT_REASONS
    assert "group.max_idle_per_entry" in LIMIT_REASONS
    assert "credential_expiring" in LIMIT_REASONS
    assert "downtime" in LIMIT_REASONS


def test_entry_health_state() -> None:
    health = EntryHealth(entry="CE1", backoff_until=1000.0)
    assert health.state(999.0) is HealthState.BACKOFF
    assert health.state(1000.0) is HealthState.OK
    assert health.state(0.0, config_enabled=False) is HealthState.DISABLED
    draining = EntryHealth(entry="CE1", operator=OperatorState.DRAINING, backoff_until=1000.0)
    assert draining.state(0.0) is HealthState.DRAINING


def test_job_status_mapping() -> None:
    assert GlideinState.from_job_status(1) is GlideinState.IDLE
    assert GlideinState.from_job_status(5) is GlideinState.HELD


def test_shape_as_ad_leaves_out_undefined() -> None:
    shape = JobShape(attrs=(("desired_sites", "A"), ("x", None)))
    assert shape.as_ad() == {"desired_sites": "A"}


def test_plan_rows_for_entry() -> None:
    plan = Plan(cycle=1, now=0.0, decisions=(Decision("g", "a"), Decision("g", "b")))
    assert [d.entry for d in plan.for_entry("b")] == ["b"]
