"""The Shaper's raw counts: spellings learnt from the ads, projection widened for
expressions, numbers of several types kept apart in exact columns."""

from __future__ import annotations

from collections import Counter

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
