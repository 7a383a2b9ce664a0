"""HTCondor's ClassAd semantics on every path aglidein matches with.

Each case of `classad_conformance.json` (expressions from HTCondor's own ClassAd tests and
manual, and Requirements of real submit files; each case names its source) goes through
the single-pair path (`pair_matches`), the batched `Matcher` and `aglidein plan --jobs
DUMP --json`, and must say what classad2 says when the negotiator's way of matching
(`Requirements` of the job, MY, evaluated against the entry, TARGET) is asked directly.
A hypothesis property then checks that the three paths agree with each other and with
classad2 on generated expressions and ads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aglidein.classad.evaluate import compile_expr
from aglidein.classad.facade import ad_from_mapping, is_true, parse_expr
from aglidein.cli import main
from aglidein.config import parse_config_text
from aglidein.core.demand import (
    exact_attrs,
    group_projection,
    group_shapes,
    schedd_projection,
)
from aglidein.core.match import Matcher, pair_matches
from aglidein.core.match_counts import count_demand
from aglidein.core.model import DemandSnapshot, ScheddDemand
from aglidein.core.shaper import Shaper

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "classad_conformance.json").read_text()
)
NOW = int(time.time())

Ad = Mapping[str, Any]


def with_now(ad: Ad, now: int) -> dict[str, Any]:
    """The ad with HTCondor's implicit CurrentTime made explicit (classad2 reads the clock)."""
    out = dict(ad)
    if not any(name.lower() == "currenttime" for name in out):
        out["CurrentTime"] = now
    return out


def oracle_match(match: str, job: Ad, entry: Ad, now: int = NOW) -> bool:
    """classad2's own matchmaking: the job's Requirements evaluated with the entry as TARGET."""
    job_ad = ad_from_mapping({**with_now(job, now), "Requirements": parse_expr(match)})
    entry_ad = ad_from_mapping(with_now(entry, now))
    return bool(entry_ad.matches(job_ad))


def lowered(ad: Ad) -> dict[str, Any]:
    return {name.lower(): value for name, value in ad.items()}


def batched_matrix(match: str, jobs: list[Ad], entries: list[Ad], now: int) -> list[list[bool]]:
    matcher = Matcher(match, [(f"e{i}", e) for i, e in enumerate(entries)], now)
    shape_class, matrix = matcher.match_classes([lowered(job) for job in jobs])
    return [
        [bool(matrix[shape_class[j], matcher.entry_class[e]]) for e in range(len(entries))]
        for j in range(len(jobs))
    ]


def config_text(match: str, entries: list[Ad], state_dir: Path) -> str:
    return yaml.safe_dump(
        {
            "factory": {"name": "conformance", "state_dir": str(state_dir)},
            "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
            "groups": [{"name": "g", "schedds": ["s"], "match": match}],
            "entries": [
                {
                    "name": f"e{i}",
                    "gridtype": "condor",
                    "gatekeeper": f"ce{i}.example.org ce{i}.example.org:9619",
                    "auth": {"method": "idtoken"},
                    "attrs": dict(entry),
                }
                for i, entry in enumerate(entries)
            ],
        },
        allow_unicode=False,
    )


def idle_jobs(jobs: list[Ad]) -> list[dict[str, Any]]:
    return [{"ClusterId": 1, "ProcId": n, "JobStatus": 1, **job} for n, job in enumerate(jobs)]


def plan_counts(
    match: str,
    jobs: list[Ad],
    entries: list[Ad],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> list[int]:
    """matching_jobs per entry, from `aglidein plan --jobs DUMP --json`."""
    config, dump = tmp_path / "config.yaml", tmp_path / "jobs.json"
    config.write_text(config_text(match, entries, tmp_path / "state"))
    dump.write_text(json.dumps(idle_jobs(jobs)))
    status = main(["plan", "--config", str(config), "--jobs", str(dump), "--json"])
    out = capsys.readouterr().out
    assert status == 0, out
    rows = {d["entry"]: d["matching_jobs"] for d in json.loads(out)["decisions"]}
    return [rows[f"e{i}"] for i in range(len(entries))]


def core_plan_counts(match: str, jobs: list[Ad], entries: list[Ad], now: int) -> list[int]:
    """matching_jobs per entry through the core functions `aglidein plan` uses."""
    config = parse_config_text(config_text(match, entries, Path("/nonexistent"))).config
    shaper = Shaper(schedd_projection(config), exact_attrs(config))
    shaper.add(idle_jobs(jobs))
    group = config.groups[0]
    shapes = group_shapes(shaper.counts(), group_projection(group), group.job_constraint)
    counts = count_demand(config, DemandSnapshot((ScheddDemand("s", "g", shapes),)), now)
    return [counts["g"].counts[f"e{i}"].matching_jobs for i in range(len(entries))]


def same_value(ours: object, theirs: object) -> bool:
    if isinstance(theirs, list | dict):  # the compiled path has no lists: never a match
        return not is_true(ours)  # type: ignore[arg-type]
    return type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize("case", CASES, ids=[f"{i}:{c['match'][:40]}" for i, c in enumerate(CASES)])
def test_case_agrees_with_classad2_on_every_path(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    match, jobs, entries = case["match"], case["jobs"], case["entries"]
    where = f"{case['source']}: {match}"
    expected = [[oracle_match(match, job, entry) for entry in entries] for job in jobs]
    compiled = compile_expr(match)
    for j, job in enumerate(jobs):
        for e, entry in enumerate(entries):
            value = parse_expr(match).evaluate(with_now(job, NOW), with_now(entry, NOW))
            assert is_true(value) == expected[j][e], f"{where}: is_true({value!r})"
            ours = compiled.evaluate(lowered(with_now(job, NOW)), lowered(with_now(entry, NOW)))
            assert same_value(ours, value), f"{where} job={job} entry={entry}: {ours!r}"
            assert pair_matches(match, job, entry, NOW) == expected[j][e], where
    assert batched_matrix(match, jobs, entries, NOW) == expected, where
    wanted = [sum(expected[j][e] for j in range(len(jobs))) for e in range(len(entries))]
    assert plan_counts(match, jobs, entries, tmp_path, capsys) == wanted, where


def test_the_cases_cover_every_public_source() -> None:
    sources = {case["source"] for case in CASES}
    for path in (
        "src/classad/functional_tests.txt",
        "src/classad/tests.txt",
        "src/condor_utils/test_classad_funcs.cpp",
        "src/condor_tests/test_classad_eval.py",
        "src/condor_unit_tests/OTEST_Old_Classads.cpp",
        "docs/classads/classad-mechanism.rst",
    ):
        assert any(path in source for source in sources), path
    for repo in ("dmwm/WMCore", "bbockelm/CRAB", "fermitools/jobsub_lite", "OSGConnect"):
        assert any(source.startswith(repo) for source in sources), repo


def test_the_glidein_start_clause_matches_every_entry() -> None:
    # 17 of 30 entries reported 0 matching jobs when CurrentTime was UNDEFINED
    start = "(GLIDEIN_ToRetire =?= undefined) || (CurrentTime < GLIDEIN_ToRetire)"
    entries: list[Ad] = [{"GLIDEIN_ToRetire": NOW + 3600 * (i + 1)} for i in range(17)]
    entries += [{} for _ in range(13)]
    assert batched_matrix(start, [{}], entries, NOW) == [[True] * 30]
    assert all(pair_matches(start, {}, entry, NOW) for entry in entries)
    assert not pair_matches(start, {}, {"GLIDEIN_ToRetire": NOW - 1}, NOW)
    assert core_plan_counts(start, [{}], entries, NOW) == [1] * 30


def test_current_time_is_the_cycles_now_not_the_clock() -> None:
    past = 1_000_000
    assert pair_matches("CurrentTime == 1000000", {}, {}, past)
    assert pair_matches("TARGET.CurrentTime == MY.CurrentTime", {}, {}, past)
    assert batched_matrix("CurrentTime < TARGET.T", [{}], [{"T": past + 1}], past) == [[True]]
    assert batched_matrix("CurrentTime < TARGET.T", [{}], [{"T": past + 1}], NOW) == [[False]]
    for match in ("MY.CurrentTime == 1000000", "TARGET.CurrentTime == 1000000"):
        assert core_plan_counts(match, [{}], [{}], past) == [1], match


# --- the three paths agree, on generated expressions ------------------------------------

NAMES = ["a", "b", "Site"]
SCALARS = st.one_of(
    st.integers(-2, 3),
    st.sampled_from([0.0, 2.5, -1.5]),
    st.sampled_from(["A", "a", "b", "", "A, b", "A\u000bb", "A\u00a0b", "b;A"]),
    st.booleans(),
)
ATOMS = st.one_of(
    SCALARS.map(lambda v: json.dumps(v) if isinstance(v, str) else str(v).lower()),
    st.sampled_from(["undefined", "error", "CurrentTime", "MY.CurrentTime", "TARGET.CurrentTime"]),
    st.builds(
        "{}{}".format,
        st.sampled_from(["MY.", "TARGET.", "", "other.", "ad.", "LEFT.", "RIGHT."]),
        st.sampled_from(NAMES),
    ),
)


def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = ["+", "*", "<", ">=", "==", "!=", "=?=", "=!=", "&&", "||"]
    return st.one_of(
        st.builds("({} {} {})".format, inner, st.sampled_from(ops), inner),
        st.builds("!{}".format, inner),
        st.builds("ifThenElse({}, {}, {})".format, inner, inner, inner),
        st.builds("stringListMember({}, {})".format, inner, inner),
        st.builds('stringListMember({}, {}, ";")'.format, inner, inner),
        st.builds("countMatches({}, {{[a=1], [a=2]}}) + {}".format, inner, inner),
        st.builds("size({}.a) + {}".format, st.sampled_from(["{}", "{[a=1]}"]), inner),
    )


expressions = st.recursive(ATOMS, extend, max_leaves=6)
ads = st.dictionaries(st.sampled_from(NAMES), SCALARS, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    match=expressions,
    jobs=st.lists(ads, min_size=1, max_size=4),
    entries=st.lists(ads, min_size=1, max_size=4),
)
def test_single_batched_and_plan_paths_agree_with_classad2(
    match: str, jobs: list[Ad], entries: list[Ad]
) -> None:
    expected = [[oracle_match(match, job, entry) for entry in entries] for job in jobs]
    single = [[pair_matches(match, job, entry, NOW) for entry in entries] for job in jobs]
    assert single == expected
    assert batched_matrix(match, jobs, entries, NOW) == expected
    wanted = [sum(row[e] for row in expected) for e in range(len(entries))]
    assert core_plan_counts(match, jobs, entries, NOW) == wanted
