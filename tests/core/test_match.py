"""The matcher's shape × entry matrix equals classad2 evaluating every pair, including on
the index and vectorised paths."""

from __future__ import annotations

import random
from unittest.mock import patch

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aglidein.classad.facade import is_true, parse_expr
from aglidein.core import match as match_module
from aglidein.core.match import Matcher

SITES = ["A", "B", "a", "C_1", "", "A B"]
LISTS = ["A", "A, B", "b,a", "C_1 ,A", "", "B;A", "A\tC_1"]
values = st.one_of(
    st.none(),
    st.sampled_from(SITES),
    st.sampled_from(LISTS),
    st.integers(-2, 16),
    st.sampled_from([1.0, 2.5, 8.0]),
    st.booleans(),
)
EXPRESSIONS = [
    "stringListMember(TARGET.Site, MY.Sites)",
    "stringListIMember(TARGET.Site, MY.Sites)",
    'stringListMember(TARGET.Site, MY.Sites, ";")',
    "stringListMember(MY.Site, TARGET.Sites)",
    "MY.Cpus <= TARGET.Cpus",
    "TARGET.Cpus > MY.Cpus",
    "MY.Site == TARGET.Site",
    "TARGET.Site =?= MY.Site",
    "MY.Cpus != TARGET.Cpus",
    "MY.Site < TARGET.Site",
    "MY.Cpus * 2 >= TARGET.Cpus + 1",
    "TARGET.Cpus >= 4",
    "MY.Cpus > 1",
    "isUndefined(MY.Sites) || stringListMember(TARGET.Site, MY.Sites)",
    "size(MY.Site) > 0",
    "Cpus <= 8",
]
conjunction = st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=3).map(" && ".join)
ads = st.fixed_dictionaries(
    {},
    optional={"site": values, "sites": values, "cpus": values},
)


def brute_force(text: str, shapes: list[dict], entries: list[dict]) -> list[list[bool]]:
    expr = parse_expr(text)

    def plain(ad: dict) -> dict:
        return {k: v for k, v in ad.items() if v is not None}

    return [[is_true(expr.evaluate(plain(s), plain(e))) for e in entries] for s in shapes]


def full_matrix(matcher: Matcher, shapes: list[dict]) -> list[list[bool]]:
    shape_class, matrix = matcher.match_classes(shapes)
    return [
        [
            bool(matrix[shape_class[i], matcher.entry_class[j]])
            for j in range(len(matcher.entry_names))
        ]
        for i in range(len(shapes))
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=conjunction,
    shapes=st.lists(ads, min_size=1, max_size=12),
    entries=st.lists(ads, min_size=1, max_size=10),
    indexed=st.booleans(),
)
def test_matrix_equals_classad2_on_every_pair(
    text: str, shapes: list[dict], entries: list[dict], indexed: bool
) -> None:
    named = [(f"e{i}", e) for i, e in enumerate(entries)]
    threshold = 0 if indexed else match_module._SMALL_TABLE
    with patch.object(match_module, "_SMALL_TABLE", threshold):
        got = full_matrix(Matcher(text, named), shapes)
    assert got == brute_force(text, shapes, entries)


def test_entries_with_equal_attributes_share_a_class() -> None:
    entries = [(f"e{i}", {"Site": "A" if i % 2 else "B", "Other": i}) for i in range(10)]
    matcher = Matcher("stringListMember(TARGET.Site, MY.Sites)", entries)
    assert len(set(matcher.entry_class.tolist())) == 2
    shape_class, matrix = matcher.match_classes([{"sites": "A"}, {"sites": "A, B"}])
    assert matrix[shape_class[0]].sum() == 1
    assert matrix[shape_class[1]].all()


def test_a_non_zero_number_matches_as_in_htcondor() -> None:
    matcher = Matcher("MY.Cpus", [("e", {})])
    shapes = [{"cpus": 1}, {"cpus": True}, {"cpus": 0.5}, {"cpus": 0}, {"cpus": "1"}, {}]
    shape_class, matrix = matcher.match_classes(shapes)
    assert [bool(matrix[c, 0]) for c in shape_class] == [True, True, True, False, False, False]


@given(
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=6),
    st.randoms(use_true_random=False),
)
def test_alive_pairs_are_numpys_nonzero(n_rows: int, n_cols: int, rnd: random.Random) -> None:
    matrix = np.array(
        [[rnd.random() < 0.4 for _ in range(n_cols)] for _ in range(n_rows)], dtype=bool
    ).reshape(n_rows, n_cols)
    rows, cols = match_module._nonzero(matrix)
    want_rows, want_cols = np.nonzero(matrix)
    assert rows.tolist() == want_rows.tolist()
    assert cols.tolist() == want_cols.tolist()
    assert rows.dtype == want_rows.dtype
    assert cols.dtype == want_cols.dtype
