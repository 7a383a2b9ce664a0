"""Live-tail benchmark: N SSE clients follow every record while glideins post for a while.
Prints, per run, the records posted, the share each tail received (min/median), each
tail's lag (the most any record took from its POST being sent to reaching that tail, an
upper bound on its lag behind the store; min/median/max over the tails) and the store queries the tails cost. Prints
figures; never asserts.

    .venv/bin/python bench/ingest/tails.py [--tails 200] [--seconds 30] [--batch 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import orjson

from aglidein.clock import SystemClock
from aglidein.config import parse_config_text
from aglidein.logkeys import LogKeyring
from aglidein.services.glidein_logs.service import LogService
from aglidein.services.http import HttpService
from aglidein.services.metrics import Metrics
from aglidein.services.runtime import ConfigHolder, Runtime, StatusBoard
from aglidein.state import StateDB

CONFIG = """\
factory: {{name: bench, state_dir: {state}}}
pool: {{collector: 127.0.0.1:1, trust_domain: t, signing_key: /k}}
http: {{listen: ["127.0.0.1:0"]}}
"""


def batch(glidein: int, start: int, size: int, number: int) -> bytes:
    """`size` records of one glidein, the `number`th batch posted."""
    return b"\n".join(
        orjson.dumps(
            {
                "seq": s,
                "ts": "2026-01-01T00:00:00Z",
                "level": "info",
                "event": "bench.tail",
                "msg": f"glidein {glidein} step {s}",
                "batch": number,
            }
        )
        for s in range(start, start + size)
    )


async def main(tails: int, seconds: float, size: int) -> None:
    """Run one measurement and print it."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        runtime = Runtime(
            config=ConfigHolder(parse_config_text(CONFIG.format(state=state))),
            metrics=Metrics(),
            clock=SystemClock(),
            state=StateDB.open(state / "state.db"),
            status=StatusBoard(factory_name="bench", started=time.time()),
        )
        service = LogService(runtime)
        http = HttpService(runtime, service.routes())
        received = [0] * tails
        lag = [0.0] * tails  # the most any record took to reach each tail
        sent: dict[int, float] = {}  # batch number -> when its POST was sent
        posted = 0
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            await tg.start(service.closer.run)
            await tg.start(http.run)
            host, port = http.bound[0]
            url = f"http://{host}:{port}"
            ring = LogKeyring.load(state)

            async def follow(index: int) -> None:
                async with (
                    httpx.AsyncClient(base_url=url, timeout=None) as client,
                    client.stream("GET", "/api/v1/logs/stream") as response,
                ):
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            received[index] += 1
                            since = time.monotonic() - sent[orjson.loads(line[6:])["batch"]]
                            lag[index] = max(lag[index], since)

            for i in range(tails):
                tg.start_soon(follow, i)
            while service.tails.following < tails:  # noqa: ASYNC110 - every tail live first
                await anyio.sleep(0.1)
            await anyio.sleep(1.0)
            queries_before = service.tails.queries
            deadline = time.monotonic() + seconds
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                glidein = 0
                while time.monotonic() < deadline:
                    token = ring.mint(f"g{glidein % 20}", "E", now=time.time(), lifetime=3600)
                    start = (glidein // 20) * size
                    sent[glidein] = time.monotonic()
                    response = await client.post(
                        "/api/v1/logs",
                        content=batch(glidein % 20, start, size, glidein),
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/x-ndjson",
                        },
                    )
                    if response.status_code == 200:
                        posted += size
                    glidein += 1
            drained = time.monotonic()
            while min(received) < posted and time.monotonic() - drained < 30:  # noqa: ASYNC110
                await anyio.sleep(0.2)  # let the tails drain
            drain_s = time.monotonic() - drained
            queries = service.tails.queries - queries_before
            await service.closer.stop()
            await http.stop()
            await service.stop()
        runtime.state.close()
    shares = [r / posted for r in received] if posted else [0.0]
    print(
        f"tails={tails} seconds={seconds:g} posted={posted} records "
        f"({posted / seconds:.0f}/s) share received: min {min(shares):.1%} "
        f"median {statistics.median(shares):.1%} (after {drain_s:.1f} s); hub queries {queries}"
    )
    print(
        f"lag of each tail behind the store (max over its records): min {min(lag):.2f} s, "
        f"median {statistics.median(lag):.2f} s, max {max(lag):.2f} s"
    )
    row = {
        "measure": f"{tails} live SSE tails while ingesting ({posted / seconds:.0f} records/s)",
        "ours": f"least-served tail got {min(shares):.0%} of {posted} records, worst lag {max(lag):.2f} s",
        "peer": "-",
        "ratio": "-",
        "target": "every tail within 2 s of the store",
        "met": min(shares) >= 1.0 and max(lag) <= 2.0,
    }
    print("BENCH-ROW " + orjson.dumps(row).decode(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tails", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    anyio.run(main, args.tails, args.seconds, args.batch)
