"""Entry backoff: submit failures, hold storms, glideins that never report."""

from __future__ import annotations

from pathlib import Path

from aglidein.core.health import (
    HOLD_STORM,
    NEVER_REPORTED,
    assess_entries,
    backoff_delay,
    effective_state,
    record_failure,
    record_success,
    with_operator,
)
from aglidein.core.model import (
    EntryHealth,
    Glidein,
    GlideinState,
    HealthState,
    OperatorState,
    Slot,
    SlotActivity,
)
from tests.adapter_helpers import ENTRY_KINDS, make_config

NOW = 1_800_000_000.0


def _g(i: int, state: GlideinState, entered: float, entry: str = "CE") -> Glidein:
    return Glidein(
        glidein_id=f"g{i}",
        entry=entry,
        group="main",
        batch="b",
        cluster=1,
        proc=i,
        state=state,
        entered_state=entered,
        queued=entered,
        job_start=entered if state is GlideinState.RUNNING else None,
    )


def test_backoff_doubles_up_to_max_and_resets(tmp_path: Path) -> None:
    settings = make_config(tmp_path).factory.backoff
    assert [backoff_delay(n, settings) for n in range(6)] == [0, 300, 600, 1200, 2400, 4800]
    assert backoff_delay(50, settings) == 3 * 3600
    health = EntryHealth(entry="CE")
    health = record_failure(health, NOW, "submit_failed", settings)
    assert health.backoff_until == NOW + 300
    health = record_failure(health, NOW + 300, "submit_failed", settings)
    assert health.backoff_until == NOW + 300 + 600
    assert health.failures == 2
    assert record_success(health, NOW + 1000, settings).failures == 2  # too soon
    assert record_success(health, NOW + 300 + 3600, settings).failures == 0


def test_config_disabled_beats_operator_enable(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"CE": {**ENTRY_KINDS["CE"], "enabled": False}})
    assert effective_state(config, EntryHealth(entry="CE"), "CE", NOW) is HealthState.DISABLED
    assert effective_state(config, None, "GONE", NOW) is HealthState.DISABLED
    draining = with_operator(EntryHealth(entry="X"), OperatorState.DRAINING, hard=True)
    assert draining.drain_hard
    assert not with_operator(draining, OperatorState.ENABLED).drain_hard


def test_hold_storm_flags_only_the_stormy_entry(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"CE": ENTRY_KINDS["CE"], "OTHER": ENTRY_KINDS["CE"]})
    glideins = [_g(i, GlideinState.HELD, NOW - 60) for i in range(4)]
    glideins += [_g(i, GlideinState.IDLE, NOW - 60) for i in range(4, 6)]
    glideins += [_g(10, GlideinState.HELD, NOW - 60, entry="OTHER")]
    glideins += [_g(i, GlideinState.IDLE, NOW - 60, entry="OTHER") for i in range(11, 20)]
    assert assess_entries(config, {}, glideins, [], NOW) == {"CE": HOLD_STORM}
    # holds older than the window, or from before the last backoff, do not count again
    assert assess_entries(config, {}, glideins, [], NOW + 3600) == {}
    backed = {"CE": EntryHealth(entry="CE", last_failure=NOW - 30, backoff_until=NOW - 1)}
    assert assess_entries(config, backed, glideins, [], NOW) == {}


def test_glideins_that_never_report(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, {"CE": {**ENTRY_KINDS["CE"], "glidein": {"report_timeout": "10m"}}}
    )
    glideins = [_g(i, GlideinState.RUNNING, NOW - 700) for i in range(4)]
    slot = Slot(name="s", glidein_id="g0", entry="CE", group="main", activity=SlotActivity.IDLE)
    assert assess_entries(config, {}, glideins, [slot], NOW) == {"CE": NEVER_REPORTED}
    assert assess_entries(config, {}, glideins, [slot], NOW, reported={"g1", "g2"}) == {}
    assert assess_entries(config, {}, glideins, [], NOW - 200) == {}  # not long enough yet


def test_no_condor_glideins_are_not_judged_without_log_records(tmp_path: Path) -> None:
    local = {"gridtype": "local", "attrs": {}, "glidein": {"report_timeout": "10m"}}
    config = make_config(tmp_path, {"L": local})
    glideins = [_g(i, GlideinState.RUNNING, NOW - 700, entry="L") for i in range(4)]
    assert assess_entries(config, {}, glideins, [], NOW) == {}
    assert assess_entries(config, {}, glideins, [], NOW, reported=set()) == {"L": NEVER_REPORTED}
    assert assess_entries(config, {}, glideins, [], NOW, reported={"g0", "g1", "g2", "g3"}) == {}
