"""Benchmark of demand → decision: shaping, matching and deciding on synthetic pools, and
`aglidein plan --jobs dump.json` end to end on the 1M-job case.

    .venv/bin/python bench/plan.py                 # every case (the 1M dump takes a while)
    .venv/bin/python bench/plan.py --cases 10k,100k --no-cli

Cases are jobs/shapes/entries. The match is DESIGN §4's example:
stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && MY.RequestCpus <=
TARGET.GLIDEIN_CPUS && MY.RequestMemory <= TARGET.GLIDEIN_MaxMemMBs. Beside each case it
times the in-run yardstick (`yardstick`: GlideinWMS countMatch's loop over classad2) on the
identical workload and prints the ratio; the dump's wall time is divided by the yardstick of
its case (`--cli-case`, default 1M). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import classad2
import htcondor2  # noqa: F401  (registers stringListMember & co. with classad2)
import orjson
import yaml

from aglidein.config import Config, parse_config_text
from aglidein.core.demand import (
    exact_attrs,
    group_projection,
    group_shapes,
    schedd_projection,
)
from aglidein.core.match_counts import count_demand
from aglidein.core.model import CycleInputs, DemandSnapshot, GlideinCensus, ScheddDemand
from aglidein.core.policy import decide
from aglidein.core.shaper import Shaper
from aglidein.services.poller_ads import group_weights

MATCH = (
    "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && "
    "MY.RequestCpus <= TARGET.GLIDEIN_CPUS && MY.RequestMemory <= TARGET.GLIDEIN_MaxMemMBs"
)
CASES = {
    "10k": (10_000, 100, 100),
    "100k": (100_000, 1_000, 1_000),
    "1M": (1_000_000, 1_000, 2_000),
    "1M-10k": (1_000_000, 10_000, 2_000),
}
ISSUE_ROWS = ("1M", "100k")  # the cases of issue #16's table
BATCH = 100_000
YARDSTICK_BUDGET_S = 20.0  # the yardstick's pair loop runs on a subset past this, then scales


def config_text(entries: int) -> str:
    """A config with one group and `entries` entries on entries // 2 sites."""
    sites = max(1, entries // 2)
    data: dict[str, Any] = {
        "factory": {"name": "bench", "state_dir": "/tmp/aglidein-bench"},
        "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
        "groups": [
            {
                "name": "main",
                "schedds": ["bench"],
                "match": MATCH,
                "job_constraint": "JobUniverse == 5",
            }
        ],
        "entries": [
            {
                "name": f"CE_{i}",
                "gridtype": "condor",
                "gatekeeper": f"ce{i}.example.org ce{i}.example.org:9619",
                "auth": {"method": "idtoken"},
                "attrs": {
                    "GLIDEIN_Site": f"Site_{i % sites}",
                    "GLIDEIN_CPUS": (1, 4, 8, 16)[i % 4],
                    "GLIDEIN_MaxMemMBs": (2000, 8000, 16000, 32000)[(i // 4) % 4],
                },
            }
            for i in range(entries)
        ],
    }
    return yaml.safe_dump(data)


def shape_values(shapes: int, entries: int, rng: random.Random) -> list[dict[str, Any]]:
    """`shapes` distinct (DESIRED_Sites, RequestCpus, RequestMemory) combinations."""
    sites = max(1, entries // 2)
    seen: set[tuple[str, int, int]] = set()
    out = []
    while len(out) < shapes:
        k = rng.randint(1, 20)
        wanted = ", ".join(f"Site_{s}" for s in rng.sample(range(sites), min(k, sites)))
        key = (wanted, rng.choice((1, 2, 4, 8)), rng.choice((1000, 2000, 4000, 8000, 16000)))
        if key not in seen:
            seen.add(key)
            out.append({"DESIRED_Sites": key[0], "RequestCpus": key[1], "RequestMemory": key[2]})
    return out


def job_batches(jobs: int, shapes: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Idle job ads, BATCH at a time, spread evenly over the shapes."""
    for start in range(0, jobs, BATCH):
        yield [
            {
                "ClusterId": 1000 + n // 100,
                "ProcId": n % 100,
                "JobStatus": 1,
                "JobUniverse": 5,
                "Owner": f"user{n % 50}",
                "QDate": 1_767_000_000 + n % 3600,
                "RequestDisk": 1_000_000,
                **shapes[n % len(shapes)],
                "Cmd": "/usr/bin/run-analysis",
                "Iwd": f"/home/user{n % 50}/work",
            }
            for n in range(start, min(jobs, start + BATCH))
        ]


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def group_by_answer(
    jobs: int, shapes: list[dict[str, Any]], projection: tuple[str, ...]
) -> list[dict[str, Any]]:
    """What a schedd answers the poller's GroupBy query on these jobs (every one of them
    idle and in the demand constraint): one ad per distinct tuple of the projected values,
    with `JobCount` and `AutoClusterId`. The schedd's work, so not timed as ours."""
    groups: dict[tuple[Any, ...], int] = {}
    for batch in job_batches(jobs, shapes):
        for job in batch:
            key = tuple(job.get(name) for name in projection)
            groups[key] = groups.get(key, 0) + 1
    return [
        {
            **{name: v for name, v in zip(projection, key, strict=True) if v is not None},
            "JobCount": count,
            "AutoClusterId": index,
        }
        for index, (key, count) in enumerate(groups.items())
    ]


def run_case(name: str, rng: random.Random, grouped: bool) -> dict[str, float]:
    """Shape, match and decide on case `name`: the jobs as the schedd's GroupBy answer
    (`grouped`, the daemon's cycle) or as one ad per job (a schedd without GroupBy)."""
    jobs, n_shapes, n_entries = CASES[name]
    config: Config = parse_config_text(config_text(n_entries)).config
    shapes = shape_values(n_shapes, n_entries, rng)
    group = config.groups[0]
    projection = schedd_projection(config)
    shaper = Shaper(projection, exact_attrs(config))
    shape_s = 0.0
    if grouped:
        answer = group_by_answer(jobs, shapes, projection)
        started = time.perf_counter()
        shaper.add_weighted(group_weights(answer))
        shape_s += time.perf_counter() - started
    else:
        for batch in job_batches(jobs, shapes):
            started = time.perf_counter()
            shaper.add(batch)
            shape_s += time.perf_counter() - started
    started = time.perf_counter()
    rows = group_shapes(shaper.counts(), group_projection(group), group.job_constraint)
    shape_s += time.perf_counter() - started
    demand = DemandSnapshot((ScheddDemand("bench", "main", rows),))
    now = time.time()
    started = time.perf_counter()
    counts = count_demand(config, demand, now)
    match_s = time.perf_counter() - started
    started = time.perf_counter()
    plan = decide(config, CycleInputs(demand=demand, census=GlideinCensus()), now, counts=counts)
    decide_s = time.perf_counter() - started
    matched = sum(d.matching_jobs for d in plan.decisions)
    return {
        "shape_s": shape_s,
        "match_s": match_s,
        "decide_s": decide_s,
        "total_s": shape_s + match_s + decide_s,
        "shapes": len(rows),
        "pairs_matched": matched,
    }


def yardstick(name: str, rng: random.Random) -> dict[str, float]:
    """GlideinWMS countMatch's work on the same workload, in plain Python over classad2.

    As countMatch does: every job is put in a cluster keyed by the attributes the match
    reads (one Python pass over the job dicts), then every (cluster, entry) pair is
    evaluated: the group's match with MY = the job and TARGET = the entry, then the job's
    Requirements against the entry and the entry's START against the job (symmetricMatch).
    The pair loop stops after YARDSTICK_BUDGET_S and is scaled by pairs to the full count.
    """
    jobs, n_shapes, n_entries = CASES[name]
    shapes = shape_values(n_shapes, n_entries, rng)
    attrs = ("DESIRED_Sites", "RequestCpus", "RequestMemory")
    started = time.perf_counter()
    clusters: dict[tuple[Any, ...], int] = {}
    for batch in job_batches(jobs, shapes):
        for job in batch:
            if job.get("JobStatus") == 1:
                key = tuple(job.get(a) for a in attrs)
                clusters[key] = clusters.get(key, 0) + 1
    cluster_s = time.perf_counter() - started
    config = parse_config_text(config_text(n_entries)).config
    entry_ads = []
    for entry in config.entries:
        ad = classad2.ClassAd()
        for key, value in entry.attrs.items():
            ad[key] = value
        ad["START"] = classad2.ExprTree("true")
        ad["Requirements"] = classad2.ExprTree("START")
        entry_ads.append(ad)
    match = classad2.ExprTree(MATCH)
    pairs = done = matched = 0
    started = time.perf_counter()
    for values in clusters:
        job = classad2.ClassAd()
        for attr, value in zip(attrs, values, strict=True):
            job[attr] = value
        job["Requirements"] = classad2.ExprTree("true")
        for entry_ad in entry_ads:
            if match.eval(job, entry_ad) is True and job.symmetricMatch(entry_ad):
                matched += 1
        done += 1
        pairs += len(entry_ads)
        if time.perf_counter() - started > YARDSTICK_BUDGET_S:
            break
    pair_s = time.perf_counter() - started
    scale = len(clusters) / done
    return {
        "total_s": cluster_s + pair_s * scale,
        "cluster_s": cluster_s,
        "pair_s": pair_s * scale,
        "pairs": pairs * scale,
        "scaled": scale > 1,
        "matched_pairs": matched,
    }


def write_dump(path: Path, name: str, rng: random.Random) -> None:
    jobs, n_shapes, n_entries = CASES[name]
    shapes = shape_values(n_shapes, n_entries, rng)
    with path.open("wb") as out:
        out.write(b"[\n")
        first = True
        for batch in job_batches(jobs, shapes):
            for ad in batch:
                if not first:
                    out.write(b"\n,\n")
                first = False
                out.write(orjson.dumps(ad, option=orjson.OPT_INDENT_2))
        out.write(b"\n]\n")


def run_cli(name: str, rng: random.Random) -> tuple[float, float] | None:
    """`aglidein plan --jobs` on a dump of case `name`: its wall time and peak RSS in MiB
    (None if it failed)."""
    with tempfile.TemporaryDirectory(prefix="aglidein-bench-") as tmp:
        dump, config = Path(tmp) / "jobs.json", Path(tmp) / "config.yaml"
        config.write_text(config_text(CASES[name][2]))
        started = time.perf_counter()
        write_dump(dump, name, rng)
        print(
            f"  wrote {dump.stat().st_size / 2**20:.0f} MiB dump in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
        cmd = [
            sys.executable,
            "-m",
            "aglidein",
            "plan",
            "--config",
            str(config),
            "--jobs",
            str(dump),
            "--json",
        ]
        started = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, check=False)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            print(f"  plan failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
            return None
        timing = orjson.loads(result.stdout)["timing"]
        stages = "  ".join(f"{k} {v:.2f}" for k, v in timing.items())
        rss = peak_rss_mib(resource.RUSAGE_CHILDREN)
        print(
            f"  aglidein plan --jobs ({name}): wall {wall:.2f}s  [{stages}]  peak RSS {rss:.0f} MiB"
        )
        return wall, rss


def _yardstick_note(y: dict[str, float]) -> str:
    if not y["scaled"]:
        return ""
    return " (pair loop run on a subset, scaled by pairs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--no-cli", action="store_true", help="skip the 1M dump through the CLI")
    parser.add_argument("--no-yardstick", action="store_true", help="skip the countMatch loop")
    parser.add_argument("--cli-case", default="1M", choices=list(CASES))
    args = parser.parse_args()
    print(f"bench/plan.py on {os.cpu_count()} cores; match: {MATCH}")
    print(
        "yardstick: GlideinWMS countMatch's loop in plain Python over classad2 "
        "(cluster jobs by match attributes, then classad2 match + symmetricMatch per "
        "(cluster, entry)), same workload, same run"
    )
    print(
        f"{'case (jobs/shapes/entries)':26} {'jobs as':8} {'shape_s':>8} {'match_s':>8} "
        f"{'decide_s':>9} {'total_s':>8} {'shapes':>7} {'yardstick_s':>12} {'ratio':>7}"
    )
    yardsticks: dict[str, float] = {}
    cases = args.cases.split(",")
    if not args.no_cli and args.cli_case not in cases:
        cases.append(args.cli_case)
    for name in cases:
        jobs, shapes, entries = CASES[name]
        label = f"{name} ({jobs}/{shapes}/{entries})"
        results = {
            grouped: run_case(name, random.Random(name), grouped) for grouped in (True, False)
        }
        if results[True]["pairs_matched"] != results[False]["pairs_matched"]:
            print(f"  {name}: the GroupBy and per-job paths disagree: {results}")
        y = None if args.no_yardstick else yardstick(name, random.Random(name))
        if y is not None:
            yardsticks[name] = y["total_s"]
        for grouped, r in results.items():
            line = (
                f"{label:26} {'GroupBy' if grouped else 'per job':8} {r['shape_s']:8.3f} "
                f"{r['match_s']:8.3f} {r['decide_s']:9.3f} {r['total_s']:8.3f} {r['shapes']:7.0f}"
            )
            if y is None:
                print(line, flush=True)
                continue
            ratio = y["total_s"] / r["total_s"]
            print(f"{line} {y['total_s']:12.2f} {ratio:6.1f}x{_yardstick_note(y)}", flush=True)
            if name in ISSUE_ROWS:
                bench_row(
                    f"shape + match + decide, {_case_words(name)}, "
                    + ("the daemon's cycle (GroupBy answer)" if grouped else "per-job ads"),
                    f"{r['total_s']:.3f} s",
                    f"countMatch loop {y['total_s']:.1f} s",
                    f"{ratio:.0f}x",
                    ">= 100x" if grouped else "(fallback, no target)",
                    ratio >= 100 if grouped else None,
                )
    print(f"peak RSS of this process: {peak_rss_mib():.0f} MiB")
    if not args.no_cli:
        cli = run_cli(args.cli_case, random.Random(args.cli_case))
        if cli is not None and args.cli_case in yardsticks:
            wall, rss = cli
            share = wall / yardsticks[args.cli_case]
            print(f"  plan --jobs wall / yardstick ({args.cli_case}): {share:.3f} (target < 0.2)")
            bench_row(
                f"`aglidein plan --jobs` on the {_case_words(args.cli_case)} dump, wall",
                f"{wall:.2f} s, peak RSS {rss:.0f} MiB",
                f"countMatch loop {yardsticks[args.cli_case]:.1f} s",
                f"{share:.3f}",
                "<= 0.2, RSS < 1 GiB",
                share <= 0.2 and rss < 1024,
            )


def _case_words(name: str) -> str:
    jobs, shapes, entries = CASES[name]
    return f"{jobs:,} jobs / {shapes:,} shapes / {entries:,} entries"


def bench_row(
    measure: str, ours: str, peer: str, ratio: str, target: str, met: bool | None
) -> None:
    """One row of issue #16's table, for `bench/run_all.py`'s summary."""
    row = {"measure": measure, "ours": ours, "peer": peer, "ratio": ratio, "target": target}
    print("BENCH-ROW " + orjson.dumps({**row, "met": met}).decode(), flush=True)


if __name__ == "__main__":
    main()
