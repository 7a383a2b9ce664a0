"""Per-group accounting arithmetic: busy time is the union of job intervals inside the
glidein's life, badput the rest of its wall time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aglidein.core.accounting import AccountingTotals, busy_seconds

intervals = st.lists(
    st.tuples(st.integers(-50, 250), st.integers(0, 120)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=12,
)


@given(intervals, st.integers(0, 100), st.integers(0, 150))
def test_busy_time_is_the_union_inside_the_window(
    jobs: list[tuple[int, int]], start: int, length: int
) -> None:
    end = start + length
    covered = {s for a, b in jobs for s in range(max(a, start), min(b, end))}  # 1 s cells
    assert busy_seconds(jobs, start, end) == len(covered)


def test_overlapping_jobs_count_once_and_badput_is_what_is_left() -> None:
    assert busy_seconds([(0, 100), (50, 150), (300, 400)], 0, 1000) == 250
    assert busy_seconds([], 0, 1000) == 0
    totals = AccountingTotals(since=5.0)
    totals.add("cms", "CE1", glidein_seconds=1000, busy_seconds=250, job_seconds=300)
    totals.add("cms", "CE1", glidein_seconds=60, validation_failed=True)
    totals.add("atlas", "CE1", job_seconds=10)
    cms = totals.row("cms", "CE1")
    assert (cms.glidein_seconds, cms.job_seconds, cms.badput_seconds) == (1060, 300, 810)
    assert cms.validation_failures == 1
    assert [(r.group, r.entry) for r in totals.rows()] == [("atlas", "CE1"), ("cms", "CE1")]
    # a busy time over the wall time (clock skew between records) is no negative badput
    totals.add("lhcb", "CE2", glidein_seconds=10, busy_seconds=99)
    assert totals.row("lhcb", "CE2").badput_seconds == 0
