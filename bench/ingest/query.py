"""Query benchmark: fill a log store with N records (default 10 million, 10,000 glideins)
through the store's ingest path, wait for the full-text index, then time a glidein's
first page and full-text queries. Prints figures; never asserts.

    .venv/bin/python bench/ingest/query.py [--records 10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from aglidein.config import LogsConfig
from aglidein.core.records import ParsedBatch
from aglidein.store.api import LogQuery
from aglidein.store.sqlite import SqliteLogStore

WORDS = [f"w{i:04d}" for i in range(2000)] + ["cvmfs", "mount", "startd", "slot", "ready"]
TS0 = 1767225600


def make_batch(glidein: int, start: int, rng: random.Random) -> ParsedBatch:
    """100 records of one glidein, built directly (the parser is benchmarked by wrk)."""
    batch = ParsedBatch()
    for seq in range(start, start + 100):
        level = 3 if seq % 500 == 7 else 1
        msg = " ".join(rng.choice(WORDS) for _ in range(12))
        if seq % 100_000 == 42:
            msg += " needle"
        ts = TS0 + seq
        ts_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        line = (
            f'{{"seq":{seq},"ts":"{ts_text}","level":"{"error" if level == 3 else "info"}",'
            f'"event":"bench.step","msg":"{msg}","host":"wn{glidein:05d}","slot":{seq % 8}}}'
        ).encode()
        batch.seqs.append(seq)
        batch.ts.append(float(ts))
        batch.levels.append(level)
        batch.events.append("bench.step")
        batch.msgs.append(msg)
        batch.lines.append(line)
    return batch


async def fill(store: SqliteLogStore, records: int, glideins: int) -> float:
    """Ingest `records` records; returns records/s through the store."""
    per_glidein = records // glideins
    started = time.perf_counter()
    rng = random.Random(1)
    limiter = anyio.CapacityLimiter(64)

    async def one(g: int, start: int) -> None:
        async with limiter:
            await store.ingest(f"bench-{g:05d}", f"ENTRY_{g % 10}", make_batch(g, start, rng))

    done = 0
    for start in range(0, per_glidein, 100):
        async with anyio.create_task_group() as tg:
            for g in range(glideins):
                tg.start_soon(one, g, start)
        done += glideins * 100
        if done % 1_000_000 < glideins * 100:
            print(f"  {done:,} records stored", flush=True)
    return done / (time.perf_counter() - started)


async def timed(store: SqliteLogStore, query: LogQuery, runs: int = 9) -> tuple[float, int]:
    """Median wall time (ms) of a query, and how many records it returned."""
    times = []
    count = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        page = await store.search(query)
        times.append((time.perf_counter() - t0) * 1000)
        count = len(page.records)
    return statistics.median(times), count


async def main_async(args: argparse.Namespace) -> None:
    """Fill, index, query."""
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="aglidein-query-"))
    settings = LogsConfig(max_bytes=10**13)
    store = SqliteLogStore(work / "logs.db", lambda: settings)
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        if store.last_batch == 0:
            rate = await fill(store, args.records, args.glideins)
            print(f"filled {args.records:,} records at {rate:,.0f} records/s (store only)")
        t0 = time.perf_counter()
        writer = store._writer
        assert writer is not None
        for _ in range(100_000):
            if writer.fts_indexed >= store.last_batch:
                break
            await anyio.sleep(0.2)
        print(f"full-text index complete {time.perf_counter() - t0:.1f} s after the last commit")
        print(f"database size: {store.stats().size_bytes / 2**30:.2f} GiB (see logs.db)")
        rng = random.Random(7)
        firsts = []
        for _ in range(10):
            g = rng.randrange(args.glideins)
            ms, n = await timed(store, LogQuery(glidein=f"bench-{g:05d}", limit=100), runs=3)
            firsts.append(ms)
        print(
            f"a glidein's first page (100 records): median {statistics.median(firsts):.1f} ms, "
            f"max {max(firsts):.1f} ms"
        )
        ms, n = await timed(store, LogQuery(glidein="bench-00042", limit=100, descending=True))
        print(f"a glidein's newest page: {ms:.1f} ms ({n} records)")
        for q in ("needle", "cvmfs mount", "w0007 w0011", "w00*"):
            ms, n = await timed(store, LogQuery(q=q, limit=100))
            print(f"full text q={q!r}: {ms:.1f} ms for the first {n} records")
        ms, n = await timed(store, LogQuery(levels=frozenset({"error"}), limit=100))
        print(f"level=error first page: {ms:.1f} ms ({n} records)")
        ms, n = await timed(store, LogQuery(entry="ENTRY_3", q="needle", limit=100))
        print(f"entry + full text: {ms:.1f} ms ({n} records)")
        await store.stop()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--glideins", type=int, default=10_000)
    parser.add_argument("--keep", help="keep (or reuse) the store in this directory")
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
