"""Demand from a real schedd: the per-job query against the GroupBy query.

Starts a VO pool with the real-pool test harness (tests/realpool finds HTCondor as its
README says), queues idle jobs of mixed shapes that
never match (`requirements = false`), and asks for the demand the way the poller does,
through `aglidein.condor.bindings` (htcondor2 in a worker process):

- per job: `Schedd.query(constraint, projection)`, one ad per job;
- GroupBy: `Schedd.query_autoclusters(constraint, projection)`, one ad per shape.

For each it prints the wall time (best and median of --repeat), the size of the answer
in ClassAd text (what the schedd sends, before encryption), the bytes pickled back from
the worker, and whether the poller's shapes (aglidein.core.demand.Shaper) come out
identical.
It prints figures; it does not assert.

    .venv/bin/python bench/realpool_demand.py [--jobs 10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.adapter_helpers import make_config  # noqa: E402
from tests.realpool.pool import PoolInstance, PoolSpec  # noqa: E402
from tests.realpool.release import HOW_TO_GET, find_release  # noqa: E402

from aglidein.condor.api import Ad  # noqa: E402
from aglidein.condor.bindings import BindingsPool  # noqa: E402
from aglidein.core.shaper import Shaper, plain_value  # noqa: E402
from aglidein.services.poller_ads import group_weights  # noqa: E402

CONSTRAINT = '(JobStatus == 1 || JobStatus == 2) && (AglideinBench == "demand")'
PROJECTION = (
    "JobStatus",
    "RequestCpus",
    "RequestMemory",
    "RequestDisk",
    "RequestGpus",
    "DESIRED_Sites",
)
CPUS = (1, 2, 4, 8)
MEMORY = (1024, 2048, 4096)
SITES = ("US_FNAL", "US_UCSD", "IT_CNAF", "DE_KIT")


def _shape_rows(count: int, offset: int) -> str:
    shapes = list(itertools.product(CPUS, MEMORY, SITES))
    rows = (shapes[(offset + i) % len(shapes)] for i in range(count))
    return "".join(f"{c},{m},{s}\n" for c, m, s in rows)


def submit_jobs(vo: PoolInstance, count: int, offset: int) -> float:
    """Queue `count` idle jobs of the mixed shapes in one cluster; seconds it took."""
    rows = vo.job_dir / f"rows-{offset}.txt"
    rows.write_text(_shape_rows(count, offset))
    description = {
        "universe": "vanilla",
        "executable": "/bin/true",
        "requirements": "false",
        "request_cpus": "$(Cpus)",
        "request_memory": "$(Mem)",
        "request_disk": "1000",
        "+DESIRED_Sites": '"$(Site)"',
        "+AglideinBench": '"demand"',
    }
    started = time.monotonic()
    vo.submit(description, queue=f"queue Cpus,Mem,Site from {rows}", timeout=1800)
    return time.monotonic() - started


def wire_bytes(vo: PoolInstance, projection: Sequence[str], group_by: bool) -> int:
    """The answer's size in ClassAd text (`attr = value` lines, as the schedd sends ads;
    before encryption), for the same query made with htcondor2 here."""
    import htcondor2

    htcondor2.reload_config()
    schedd = htcondor2.Schedd()
    if group_by:
        mine = ["AglideinBench", "JobStatus"]  # the constraint's attributes, as bindings do
        ads = schedd.query(CONSTRAINT, [*projection, *mine], opts=htcondor2.QueryOpt.GroupBy)
    else:
        ads = schedd.query(CONSTRAINT, list(projection))
    return sum(len(ad.printOld()) for ad in ads)


def shapes_of(ads: Sequence[Ad], grouped: bool) -> dict[tuple[tuple[str, Any], ...], int]:
    """The poller's counts by shape (GroupBy ads counted as their JobCount jobs), as
    {((name, value) of each defined attribute): jobs}."""
    shaper = Shaper(PROJECTION)
    if grouped:
        shaper.add_weighted(group_weights(ads))
    else:
        shaper.add(ads)
    out: dict[tuple[tuple[str, Any], ...], int] = {}
    for names, counts in shaper.counts():
        for key, n in counts.items():
            pairs = tuple(
                (k, plain_value(v)) for k, v in zip(names, key, strict=True) if v is not None
            )
            out[pairs] = out.get(pairs, 0) + n
    return out


async def measure(
    label: str, call: Callable[[], Awaitable[list[Ad]]], wire: int, repeat_n: int
) -> list[Ad]:
    """Run `call` `repeat_n` times; print time, answer bytes and pickled bytes."""
    times = []
    ads: list[Ad] = []
    for _ in range(repeat_n):
        started = time.monotonic()
        ads = await call()
        times.append(time.monotonic() - started)
    pickled = len(pickle.dumps(ads))
    print(
        f"  {label:<8} ads={len(ads):>7}  time best={min(times):7.3f}s "
        f"median={statistics.median(times):7.3f}s  classad text={wire / 1e6:8.3f} MB  "
        f"worker->daemon={pickled / 1e6:8.3f} MB",
        flush=True,
    )
    return ads


async def bench(vo: PoolInstance, sizes: list[int], repeat_n: int, tmp: Path) -> None:
    config = make_config(
        tmp,
        pool={"collector": vo.collector, "trust_domain": vo.trust_domain},
        factory={"deadlines": {"schedd_query": "900s", "submit": "900s"}},
    )
    pool = BindingsPool(lambda: config)
    schedd = pool.schedd(vo.schedd_name)
    queued = 0
    for size in sizes:
        took = submit_jobs(vo, size - queued, queued)
        print(f"\n{size} idle jobs ({size - queued} submitted in {took:.1f}s):", flush=True)
        queued = size
        per_job = await measure(
            "per-job",
            lambda: schedd.query(CONSTRAINT, PROJECTION),
            wire_bytes(vo, PROJECTION, False),
            repeat_n,
        )
        grouped = await measure(
            "GroupBy",
            lambda: schedd.query_autoclusters(CONSTRAINT, PROJECTION),
            wire_bytes(vo, PROJECTION, True),
            repeat_n,
        )
        same = shapes_of(per_job, False) == shapes_of(grouped, True)
        print(f"  shapes identical: {same} ({len(grouped)} shapes)", flush=True)
    await pool.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="10000,100000", help="queue sizes, ascending")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.jobs.split(","))
    release = find_release()
    if release is None:
        print(f"skipped: {HOW_TO_GET}")
        return 0
    print(f"HTCondor: {release.version} ({release.origin})")
    with tempfile.TemporaryDirectory(prefix="agp-bench-", dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        vo = PoolInstance(
            PoolSpec(
                name="vo",
                daemons=("COLLECTOR", "SCHEDD"),
                trust_domain="bench.test",
                extra_config="MAX_JOBS_PER_SUBMISSION = 1000000\nMAX_JOBS_PER_OWNER = 1000000\n",
            ),
            release,
            base / "vo",
        )
        try:
            vo.start()
            vo.wait_ready()
            os.environ["CONDOR_CONFIG"] = str(vo.config_path)
            anyio.run(bench, vo, sizes, args.repeat, base / "aglidein")
        finally:
            vo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
