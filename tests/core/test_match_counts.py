"""Demand x entries counting (aglidein.core.match_counts): matching_jobs, unique_share and
only_here per (group, entry), disabled entries and allow_groups, and stale demand kept for
factory.stale_cycles cycles then dropped."""

from __future__ import annotations

from typing import Any

import pytest

from aglidein.classad.facade import is_true, parse_expr
from aglidein.config import Config
from aglidein.core.match_counts import EntryCount, count_demand, count_group, usable_shapes
from aglidein.core.model import DemandSnapshot, JobShape, ScheddDemand, ShapeCount

MATCH = (
    "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && RequestCpus <= TARGET.GLIDEIN_CPUS"
)
NOW = 1_700_000_000.0


def make_config(stale_cycles: int = 3) -> Config:
    entries: list[dict[str, Any]] = [
        {"name": "CE_A", "gridtype": "local", "attrs": {"GLIDEIN_Site": "A", "GLIDEIN_CPUS": 8}},
        {"name": "CE_A4", "gridtype": "local", "attrs": {"GLIDEIN_Site": "A", "GLIDEIN_CPUS": 4}},
        {"name": "CE_B", "gridtype": "local", "attrs": {"GLIDEIN_Site": "B", "GLIDEIN_CPUS": 8}},
        {
            "name": "CE_OFF",
            "gridtype": "local",
            "enabled": False,
            "attrs": {"GLIDEIN_Site": "A", "GLIDEIN_CPUS": 8},
        },
        {
            "name": "CE_H",
            "gridtype": "local",
            "allow_groups": ["h"],
            "attrs": {"GLIDEIN_Site": "B", "GLIDEIN_CPUS": 8},
        },
    ]
    return Config.model_validate(
        {
            "factory": {"name": "f", "state_dir": "/tmp/x", "stale_cycles": stale_cycles},
            "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
            "groups": [
                {"name": "g", "schedds": ["s1", "s2"], "match": MATCH},
                {"name": "h", "schedds": ["s3"], "match": MATCH},
            ],
            "entries": entries,
        }
    )


def shape(sites: str, cpus: int, idle: int, running: int = 0) -> ShapeCount:
    attrs = (("desired_sites", sites), ("requestcpus", cpus))
    return ShapeCount(JobShape(attrs, request_cpus=cpus), idle=idle, running=running)


def oracle_matches(job: dict[str, Any], entry_attrs: dict[str, Any]) -> bool:
    return is_true(parse_expr(MATCH).evaluate(job, entry_attrs))


def test_count_group_splits_shares_between_matching_entries() -> None:
    config = make_config()
    group = config.groups[0]
    entries = [e for e in config.entries if e.name in ("CE_A", "CE_A4", "CE_B")]
    shapes = (
        shape("A", 1, idle=6),  # CE_A, CE_A4
        shape("A", 8, idle=3),  # CE_A only
        shape("A,B", 8, idle=4),  # CE_A, CE_B
        shape("C", 1, idle=5),  # nowhere
        shape("B", 1, idle=0, running=7),  # no idle jobs: not counted
    )
    counts = count_group(group, entries, shapes, NOW)
    assert counts["CE_A"] == EntryCount(
        matching_jobs=13, unique_share=pytest.approx(8.0), only_here=3
    )
    assert counts["CE_A4"] == EntryCount(
        matching_jobs=6, unique_share=pytest.approx(3.0), only_here=0
    )
    assert counts["CE_B"] == EntryCount(
        matching_jobs=4, unique_share=pytest.approx(2.0), only_here=0
    )
    # the same counts, pair by pair, from classad2
    for entry in entries:
        matching = sum(
            s.idle for s in shapes if s.idle and oracle_matches(s.shape.as_ad(), dict(entry.attrs))
        )
        assert counts[entry.name].matching_jobs == matching


def test_count_group_without_entries_or_idle_shapes() -> None:
    config = make_config()
    group = config.groups[0]
    assert count_group(group, [], (shape("A", 1, 5),), NOW) == {}
    entries = list(config.entries[:2])
    idle_free = (shape("A", 1, idle=0, running=3),)
    assert count_group(group, entries, idle_free, NOW) == {
        "CE_A": EntryCount(),
        "CE_A4": EntryCount(),
    }


def test_count_demand_skips_disabled_entries_and_respects_allow_groups() -> None:
    config = make_config()
    demand = DemandSnapshot(
        (
            ScheddDemand("s1", "g", (shape("A", 1, idle=2),)),
            ScheddDemand("s2", "g", (shape("A", 1, idle=2), shape("B", 1, idle=1))),
            ScheddDemand("s3", "h", (shape("B", 1, idle=4),)),
        )
    )
    out = count_demand(config, demand, NOW)
    assert set(out) == {"g", "h"}
    g, h = out["g"], out["h"]
    assert set(g.counts) == {"CE_A", "CE_A4", "CE_B"}  # CE_OFF disabled, CE_H only for h
    assert set(h.counts) == {"CE_A", "CE_A4", "CE_B", "CE_H"}
    assert g.shapes == 2  # the two schedds' "A" shapes are merged
    assert g.idle_jobs == 5
    assert not g.stale
    assert g.counts["CE_A"].matching_jobs == 4
    assert g.counts["CE_A"].unique_share == pytest.approx(2.0)
    assert g.counts["CE_B"] == EntryCount(1, pytest.approx(1.0), 1)
    assert h.counts["CE_B"].matching_jobs == 4
    assert h.counts["CE_H"].unique_share == pytest.approx(2.0)
    assert h.counts["CE_A"] == EntryCount()


def test_stale_demand_is_kept_then_dropped() -> None:
    config = make_config(stale_cycles=2)
    fresh = ScheddDemand("s1", "g", (shape("A", 8, idle=1),))
    carried = ScheddDemand("s2", "g", (shape("A", 8, idle=10),), ok=False, stale_cycles=2)
    rows, stale = usable_shapes(config, DemandSnapshot((fresh, carried)), "g")
    assert rows == [fresh.shapes, carried.shapes]
    assert stale
    dropped = ScheddDemand("s2", "g", (shape("A", 8, idle=10),), ok=False, stale_cycles=3)
    rows, stale = usable_shapes(config, DemandSnapshot((fresh, dropped)), "g")
    assert rows == [fresh.shapes]
    assert stale
    out = count_demand(config, DemandSnapshot((fresh, dropped)), NOW)
    assert out["g"].stale
    assert out["g"].idle_jobs == 1
    assert out["g"].counts["CE_A"].only_here == 1


def test_a_failed_query_marks_the_group_stale_even_when_fresh() -> None:
    config = make_config()
    failed = ScheddDemand("s3", "h", (), ok=False)
    out = count_demand(config, DemandSnapshot((failed,)), NOW)
    assert out["h"].stale
    assert out["h"].idle_jobs == 0
    assert not out["g"].stale
    assert all(c == EntryCount() for c in out["g"].counts.values())
