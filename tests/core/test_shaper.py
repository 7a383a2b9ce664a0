"""The Shaper's raw counts: spellings learnt from the ads, projection widened for
expressions, numbers of several types kept apart in exact columns; a GroupBy answer
(one ad per shape with its job count) counted as the jobs it stands for."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from aglidein.config import Config
from aglidein.core.demand import group_projection, group_shapes
from aglidein.core.shaper import Shaper, Typed, expr_value, plain_value


def _totals(shaper: Shaper) -> Counter[tuple[tuple[str, object], ...]]:
    """Counts by (name, plain value) pairs, whatever the segments' layouts."""
    out: Counter[tuple[tuple[str, object], ...]] = Counter()
    for names, counts in shaper.counts():
        for key, n in counts.items():
            pairs = tuple(
                (name, plain_value(v)) for name, v in zip(names, key, strict=True) if v is not None
            )
            out[pairs] += n
    return out


def test_counts_jobs_by_projected_values() -> None:
    shaper = Shaper(["RequestCpus", "Site"])
    shaper.add([{"RequestCpus": 1, "Site": "A", "Cmd": "x"}] * 3 + [{"RequestCpus": 2}])
    assert _totals(shaper) == {
        (("requestcpus", 1), ("site", "A")): 3,
        (("requestcpus", 2),): 1,
    }


def test_a_spelling_the_config_does_not_use_is_still_read() -> None:
    shaper = Shaper(["RequestCpus"])
    shaper.add([{"requestcpus": 4}, {"RequestCpus": 4}])
    assert _totals(shaper) == {(("requestcpus", 4),): 2}


def test_an_expression_reading_outside_the_projection_widens_it() -> None:
    shaper = Shaper(["RequestMemory"])
    shaper.add([{"RequestMemory": "/Expr(MemoryBase * 2)/", "MemoryBase": 1000}])
    assert "memorybase" in shaper.names
    assert _totals(shaper) == {
        (("memorybase", 1000), ("requestmemory", "/Expr(MemoryBase * 2)/")): 1
    }


def test_exact_columns_keep_one_and_one_point_zero_apart() -> None:
    shaper = Shaper(["X"], exact=["x"])
    shaper.add([{"X": 1}, {"X": 1.0}, {"X": True}])
    [(_, counts)] = shaper.counts()
    assert sorted(counts.values()) == [1, 1, 1]
    assert all(isinstance(key[0], Typed) for key in counts)


def test_expr_value_reads_json_expressions_only() -> None:
    assert expr_value("/Expr(1 + 2)/") is not None
    assert expr_value("plain text") is None
    assert expr_value("/Expr(1 +)/") is None


_VALUES = st.one_of(
    st.sampled_from([1, 2, 1.0, True, False, "A", "B", "A, B", None]),
    st.just("/Expr(MemoryBase * 2)/"),
)
_NAMES = st.sampled_from(["RequestCpus", "requestcpus", "Site", "SITE", "MemoryBase", "Other"])
_GROUPS = st.lists(
    st.tuples(st.dictionaries(_NAMES, _VALUES, max_size=4), st.integers(0, 4)), max_size=8
)


def _shapes(shaper: Shaper) -> list[object]:
    group = Config.model_validate(
        {
            "factory": {"name": "f", "state_dir": "/tmp/x"},
            "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
            "groups": [
                {
                    "name": "g",
                    "schedds": ["s"],
                    "match": "RequestCpus <= 2 && stringListMember(TARGET.Site, MY.Site)",
                    "job_constraint": "RequestCpus =!= 1.0",
                }
            ],
            "entries": [{"name": "E", "gridtype": "local", "attrs": {"Site": "A"}}],
        }
    ).groups[0]
    rows = group_shapes(shaper.counts(), group_projection(group), group.job_constraint)
    return sorted(rows, key=repr)


@given(_GROUPS)
@settings(max_examples=200, deadline=None)
def test_weighted_ads_count_as_their_copies(groups: list[tuple[dict[str, object], int]]) -> None:
    copies = [ad for ad, n in groups for _ in range(n)]
    per_job, weighted = Shaper(["RequestCpus", "Site"]), Shaper(["RequestCpus", "Site"])
    if copies:
        per_job.add(copies)
    weighted.add_weighted(groups)
    assert weighted.names == per_job.names
    assert _shapes(weighted) == _shapes(per_job)
    assert _totals(weighted) == _totals(per_job)


def test_weighted_ads_keep_one_and_one_point_zero_apart() -> None:
    shaper = Shaper(["X"], exact=["x"])
    shaper.add_weighted([({"X": 1}, 2), ({"x": 1.0}, 3), ({"X": True}, 0)])
    [(_, counts)] = shaper.counts()
    assert sorted(counts.values()) == [2, 3]
    assert all(isinstance(key[0], Typed) for key in counts)
