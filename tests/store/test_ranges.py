"""A glidein's stored seqs as ranges: the same answers as a plain set, packed compactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aglidein.store.ranges import SeenSet


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=80))
def test_seen_set_behaves_as_a_set_of_seqs(seqs: list[int]) -> None:
    seen = SeenSet()
    for seq in seqs:
        seen.add(seq)
    assert len(seen) == len(set(seqs))
    assert all(seq in seen for seq in seqs)
    assert all((seq in seen) == (seq in set(seqs)) for seq in range(-1, 202))
    assert seen.top == max(seqs, default=-1)
    # disjoint, sorted, never touching: a gap of at least one between ranges
    assert all(hi + 1 < lo for hi, lo in zip(seen.his, seen.los[1:], strict=False))
    assert SeenSet.unpack(seen.pack()).los == seen.los
    assert SeenSet.unpack(seen.pack()).his == seen.his


def test_consecutive_seqs_stay_one_range_and_runs_extend_it() -> None:
    seen = SeenSet()
    for seq in range(100):
        seen.add(seq)
    seen.add_run(100, 199)
    assert (seen.los, seen.his) == ([0], [199])
    seen.add_run(300, 310)
    assert (seen.los, seen.his) == ([0, 300], [199, 310])
    copy = seen.copy()
    copy.add(250)
    assert 250 not in seen
    assert SeenSet.unpack(None).top == -1
