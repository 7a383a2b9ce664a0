"""Job shapes: projection, counting by shape, expression-valued attributes, and the
end-to-end counts (shape → match → count) against classad2 evaluating every job."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aglidein.classad.facade import is_true, parse_expr
from aglidein.config import Config
from aglidein.core.demand import (
    exact_attrs,
    group_projection,
    group_shapes,
    schedd_projection,
    type_sensitive_refs,
)
from aglidein.core.match_counts import count_group
from aglidein.core.shaper import Shaper


def make_config(
    match: str, constraint: str = "true", sites: tuple[str, ...] = ("A", "B")
) -> Config:
    return Config.model_validate(
        {
            "factory": {"name": "f", "state_dir": "/tmp/x"},
            "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
            "groups": [
                {"name": "g", "schedds": ["s"], "match": match, "job_constraint": constraint}
            ],
            "entries": [
                {
                    "name": f"CE_{i}",
                    "gridtype": "local",
                    "attrs": {"GLIDEIN_Site": site, "GLIDEIN_CPUS": 4 + 4 * (i % 2)},
                }
                for i, site in enumerate(sites)
            ],
        }
    )


def shapes_of(config: Config, jobs: list[dict[str, Any]], batch: int = 1000) -> list[Any]:
    group = config.groups[0]
    shaper = Shaper(schedd_projection(config))
    for start in range(0, len(jobs), batch):
        shaper.add(jobs[start : start + batch])
    return list(group_shapes(shaper.counts(), group_projection(group), group.job_constraint))


def test_projection_is_what_match_and_constraint_read() -> None:
    config = make_config(
        "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && "
        "RequestCpus <= TARGET.GLIDEIN_CPUS",
        "JobUniverse == 5",
    )
    projection = group_projection(config.groups[0])
    assert projection.match_refs == ("desired_sites", "requestcpus")
    assert projection.constraint_refs == ("jobuniverse",)
    assert set(schedd_projection(config)) == {
        "DESIRED_Sites",
        "JobStatus",
        "JobUniverse",
        "RequestCpus",
        "RequestDisk",
        "RequestGpus",
        "RequestMemory",
    }


def test_jobs_group_into_shapes_with_idle_and_running_counts() -> None:
    config = make_config(
        "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)", "JobUniverse == 5"
    )
    jobs = (
        [{"JobStatus": 1, "JobUniverse": 5, "DESIRED_Sites": "A", "RequestMemory": 2000}] * 5
        + [{"JobStatus": 2, "JobUniverse": 5, "DESIRED_Sites": "A", "RequestMemory": 2000}] * 2
        + [{"JobStatus": 1, "JobUniverse": 9, "DESIRED_Sites": "A"}] * 4  # filtered out
        + [{"JobStatus": 5, "JobUniverse": 5, "DESIRED_Sites": "A"}]  # held: neither
        + [{"JobStatus": 1, "JobUniverse": 5, "desired_sites": "B"}]  # another spelling
        + [{"JobStatus": 1, "JobUniverse": 5}]  # no DESIRED_Sites: undefined
    )
    shapes = {
        (dict(s.shape.attrs)["desired_sites"], s.shape.request_memory): (s.idle, s.running)
        for s in shapes_of(config, jobs, batch=3)
    }
    assert shapes == {("A", 2000): (5, 2), ("B", 0): (1, 0), (None, 0): (1, 0)}


@pytest.mark.parametrize("batch", [1000, 1])  # 1: each value in its own batch
def test_values_python_calls_equal_stay_apart(batch: int) -> None:
    config = make_config("MY.X =?= 1")
    jobs = [{"JobStatus": 1, "X": 1}, {"JobStatus": 1, "X": 1.0}, {"JobStatus": 1, "X": True}]
    shapes = shapes_of(config, jobs, batch)
    assert sorted(type(dict(s.shape.attrs)["x"]).__name__ for s in shapes) == [
        "bool",
        "float",
        "int",
    ]


def test_expression_values_are_evaluated_in_each_job() -> None:
    config = make_config("MY.RequestMemory <= 2048")
    jobs = [
        {"JobStatus": 1, "RequestMemory": "/Expr(ImageSize / 1024)/", "ImageSize": 1024 * 1000},
        {"JobStatus": 1, "RequestMemory": "/Expr(ImageSize / 1024)/", "ImageSize": 1024 * 4000},
        {"JobStatus": 1, "RequestMemory": 512, "ImageSize": 7},
    ]
    shapes = shapes_of(config, jobs)
    assert sorted(s.shape.request_memory for s in shapes) == [512, 1000, 4000]
    assert sorted(dict(s.shape.attrs)["requestmemory"] for s in shapes) == [512, 1000, 4000]


def test_list_values_count_as_undefined() -> None:
    config = make_config("isUndefined(MY.Tags)")
    shapes = shapes_of(config, [{"JobStatus": 1, "Tags": ["a", "b"]}, {"JobStatus": 1}])
    assert [(dict(s.shape.attrs)["tags"], s.idle) for s in shapes] == [(None, 2)]


SITE_VALUES = st.sampled_from(["A", "B", "A, B", "b", "C", ""])
job_ads = st.fixed_dictionaries(
    {"JobStatus": st.sampled_from([1, 1, 1, 2, 5])},
    optional={
        "DESIRED_Sites": SITE_VALUES,
        "RequestCpus": st.sampled_from([1, 4, 8, 2.5, True]),
        "JobUniverse": st.sampled_from([5, 9]),
    },
)
MATCHES = [
    "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && "
    "MY.RequestCpus <= TARGET.GLIDEIN_CPUS",
    "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)",
    'MY.RequestCpus >= 4 || TARGET.GLIDEIN_Site == "b"',
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.lists(job_ads, max_size=40),
    match=st.sampled_from(MATCHES),
    constraint=st.sampled_from(["true", "JobUniverse == 5", "JobUniverse =!= 9"]),
)
def test_counts_equal_classad2_job_by_job(jobs: list[dict], match: str, constraint: str) -> None:
    config = make_config(match, constraint, sites=("A", "B", "b"))
    counts = count_group(config.groups[0], config.entries, tuple(shapes_of(config, jobs, 7)), 0.0)
    match_expr, constraint_expr = parse_expr(match), parse_expr(constraint)
    expected = {e.name: [0, 0.0, 0] for e in config.entries}
    for job in jobs:
        if job["JobStatus"] != 1 or not is_true(constraint_expr.evaluate(job, {})):
            continue
        hits = [e.name for e in config.entries if is_true(match_expr.evaluate(job, e.attrs))]
        for name in hits:
            expected[name][0] += 1
            expected[name][1] += 1 / len(hits)
            expected[name][2] += len(hits) == 1
    for name, (matching, share, only) in expected.items():
        got = counts[name]
        assert (got.matching_jobs, got.only_here) == (matching, only), name
        assert abs(got.unique_share - share) < 1e-9


def test_only_type_sensitive_attributes_need_exact_counting() -> None:
    standard = (
        "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && "
        "MY.RequestCpus <= TARGET.GLIDEIN_CPUS && MY.RequestMemory <= TARGET.GLIDEIN_MaxMemMBs"
    )
    assert type_sensitive_refs(standard) == set()
    assert type_sensitive_refs("MY.X =?= 1") == {"x"}
    assert type_sensitive_refs("MY.X") == set()  # 1, 1.0 and true all match
    assert type_sensitive_refs("MY.A / 2 > 1 && MY.B < 3") == {"a"}
    assert type_sensitive_refs("ifThenElse(MY.C, MY.D + 0, false)") == {"d"}
    config = make_config("MY.X =?= 1", "JobUniverse == 5")
    assert exact_attrs(config) == {"x"}
    group = config.groups[0]
    shaper = Shaper(schedd_projection(config), exact_attrs(config))
    shaper.add(
        [
            {"JobStatus": 1, "JobUniverse": u, "X": x}
            for u, x in ((5, 1), (5.0, 1.0), (5, True), (5, 1))
        ]
    )
    shapes = group_shapes(shaper.counts(), group_projection(group), group.job_constraint)
    assert sorted((type(dict(s.shape.attrs)["x"]).__name__, s.idle) for s in shapes) == [
        ("bool", 1),
        ("float", 1),
        ("int", 2),
    ]
