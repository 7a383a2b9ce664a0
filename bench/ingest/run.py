"""Ingest benchmark: wrk posts 100-record NDJSON batches as 1,000 glideins (16
connections) to a real `aglidein run`, then — in the same run — to a minimal reference
receiver (uvicorn + orjson + SQLite executemany, no auth, no dedupe). Prints records/s,
p50/p99 latency, peak RSS, index lag, CPU time per 1,000 records (all threads of the
server, during the load: steadier than records/s on a shared machine) and both ratios.
Never asserts.

    .venv/bin/python bench/ingest/run.py [--duration 10] [--glideins 1000] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CONFIG = """\
factory: {{name: bench, state_dir: {state}, shutdown_grace: 20s{owner}}}
pool:
  collector: 127.0.0.1:9
  trust_domain: bench.example.org
  signing_key: {key}
  factory_schedd: 127.0.0.1:9
http: {{listen: ["127.0.0.1:{port}"]}}
logs: {{fsync: {fsync}}}
"""


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll until the server answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early ({process.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} never answered")


class PeakRss:
    """Samples VmHWM/VmRSS of a process (peak resident memory)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0

    def sample(self) -> None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for key in ("VmHWM", "VmRSS"):
            match = re.search(rf"{key}:\s+(\d+)", text)
            if match:
                self.peak_kib = max(self.peak_kib, int(match.group(1)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, tokens: Path, args: argparse.Namespace) -> dict[str, float]:
    """One wrk run; its WRK summary line as numbers."""
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "post.lua"),
        url,
        "--",
        str(tokens),
        str(args.threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    match = re.search(r"WRK (.*)", out)
    if not match:
        raise SystemExit(f"wrk said:\n{out}")
    return {k: float(v) for k, v in (kv.split("=") for kv in match.group(1).split())}


def measure(
    name: str, process: subprocess.Popen[bytes], url: str, tokens: Path, args: argparse.Namespace
) -> dict[str, float]:
    """wrk against one server while sampling its memory (and the daemon's index lag)."""
    rss = PeakRss(process.pid)
    lag = {"max": 0.0}
    stop = threading.Event()
    metrics_url = url.replace("/api/v1/logs", "/metrics") if name == "aglidein" else None

    def sampler() -> None:
        while not stop.wait(0.5):
            rss.sample()
            if metrics_url:
                try:
                    text = httpx.get(metrics_url, timeout=2).text
                except httpx.HTTPError:
                    continue
                found = re.search(r"^aglidein_log_index_lag_seconds (\S+)", text, re.M)
                if found:
                    lag["max"] = max(lag["max"], float(found.group(1)))

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    cpu_before = cpu_seconds(process.pid)
    result = run_wrk(url, tokens, args)
    cpu = cpu_seconds(process.pid) - cpu_before
    stop.set()
    thread.join()
    rss.sample()
    seconds = result["duration_us"] / 1e6
    ok_requests = result["requests"] - result["errors"]
    result.update(
        cpu_ms_per_1k=cpu * 1000 / max(1.0, ok_requests * 100 / 1000),
        records_per_s=ok_requests * 100 / seconds,
        peak_rss_mib=rss.peak_kib / 1024,
        max_index_lag_s=lag["max"],
    )
    return result


def index_lag(port: int) -> float:
    """The daemon's aglidein_log_index_lag_seconds."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = re.search(r"^aglidein_log_index_lag_seconds (\S+)", text, re.M)
    return float(found.group(1)) if found else -1.0


def sustained(base: str, tokens: Path, rate: int, seconds: int) -> tuple[float, float]:
    """Post `rate` records/s (100-record batches, fresh glideins) for `seconds`;
    the largest index lag seen and the rate achieved."""
    token_list = tokens.read_text().split()
    stop = threading.Event()
    worst = [0.0]
    port = int(base.rsplit(":", 1)[1])

    def watch() -> None:
        while not stop.wait(0.25):
            worst[0] = max(worst[0], index_lag(port))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    seq = 10**9  # above anything the wrk run used
    interval = 100 / rate
    with httpx.Client(timeout=10) as client:
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            token = token_list[sent % len(token_list)]
            body = "\n".join(
                f'{{"seq":{seq + k},"ts":"2026-01-01T00:00:00Z","level":"info",'
                f'"event":"bench.sustained","msg":"steady load record {seq + k} ok"}}'
                for k in range(100)
            )
            client.post(
                base + "/api/v1/logs",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            sent += 1
            if sent % len(token_list) == 0:
                seq += 100
            delay = start + sent * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        achieved = sent * 100 / (time.monotonic() - start)
    stop.set()
    watcher.join()
    return worst[0], achieved


def main() -> None:
    """Run both servers and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--glideins", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fsync", choices=["normal", "full"], default="normal")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--sustained",
        type=int,
        default=10_000,
        metavar="RATE",
        help="after the burst, post RATE records/s for 2x duration and report the index lag "
        "(0 to skip)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="aglidein-bench-"))
    key = work / "POOL"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    port = free_port()
    config = work / "aglidein.yaml"
    config.write_text(
        CONFIG.format(
            state=work / "state",
            key=key,
            port=port,
            fsync=args.fsync,
            # root must name an unprivileged job owner; the bench never reaches a schedd
            owner=", job_owner: nobody" if os.geteuid() == 0 else "",
        )
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(work / "daemon.log", "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aglidein", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    results: dict[str, dict[str, float]] = {}
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", daemon)
        from aglidein.logkeys import LogKeyring

        ring = LogKeyring.load(work / "state")
        tokens = work / "tokens.txt"
        now = time.time()
        tokens.write_text(
            "".join(
                ring.mint(f"bench-{i:05d}", f"ENTRY_{i % 10}", now=now, lifetime=86400) + "\n"
                for i in range(args.glideins)
            )
        )
        url = f"http://127.0.0.1:{port}/api/v1/logs"
        results["aglidein"] = measure("aglidein", daemon, url, tokens, args)
        time.sleep(1.0)
        body = httpx.get(f"http://127.0.0.1:{port}/api/v1/glideins?limit=100000", timeout=30)
        stored = sum(g["record_count"] for g in body.json()["glideins"])
        results["aglidein"]["stored_records"] = stored
        results["aglidein"]["index_lag_after_1s"] = index_lag(port)
        t0 = time.monotonic()
        while index_lag(port) > 0 and time.monotonic() - t0 < 300:
            time.sleep(0.5)
        results["aglidein"]["catch_up_s"] = time.monotonic() - t0 + 1.0
        if args.sustained:
            lag, achieved = sustained(
                f"http://127.0.0.1:{port}", tokens, args.sustained, args.duration * 2
            )
            results["aglidein"]["sustained_max_lag_s"] = lag
            results["aglidein"]["sustained_rate"] = achieved
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    if not args.skip_reference:
        ref_port = free_port()
        reference = subprocess.Popen(
            [sys.executable, str(HERE / "reference.py"), str(ref_port), str(work / "ref.db")],
            env=env,
        )
        try:
            wait_ready(f"http://127.0.0.1:{ref_port}/", reference)
            url = f"http://127.0.0.1:{ref_port}/api/v1/logs"
            results["reference"] = measure("reference", reference, url, tokens, args)
        finally:
            reference.send_signal(signal.SIGTERM)
            reference.wait(timeout=30)
    print(
        f"ingest benchmark: {args.glideins} glideins, {args.connections} connections, "
        f"{args.duration}s each, 100 records/batch, fsync={args.fsync}"
    )
    print(
        f"{'server':<10} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'peak RSS MiB':>13} {'max index lag s':>16} {'CPU ms/1k rec':>14}"
    )
    for name, r in results.items():
        print(
            f"{name:<10} {r['records_per_s']:>10.0f} {r['p50_us'] / 1000:>8.1f} "
            f"{r['p99_us'] / 1000:>8.1f} {r['errors']:>7.0f} {r['peak_rss_mib']:>13.0f} "
            f"{r['max_index_lag_s']:>16.2f} {r['cpu_ms_per_1k']:>14.1f}"
        )
    mine = results["aglidein"]
    print(
        f"aglidein stored {mine['stored_records']:.0f} records "
        f"(acknowledged {(mine['requests'] - mine['errors']) * 100:.0f}); "
        f"index lag 1 s after the load: {mine['index_lag_after_1s']:.2f} s, "
        f"caught up {mine['catch_up_s']:.1f} s after the load"
    )
    if "sustained_max_lag_s" in mine:
        print(
            f"sustained load ({mine['sustained_rate']:.0f} records/s for {args.duration * 2}s): "
            f"max index lag {mine['sustained_max_lag_s']:.2f} s"
        )
    if "reference" in results:
        ref = results["reference"]
        ratio = mine["records_per_s"] / ref["records_per_s"]
        cpu_ratio = ref["cpu_ms_per_1k"] / mine["cpu_ms_per_1k"]
        print(
            f"ratio aglidein/reference: {ratio:.2f} (records/s), {cpu_ratio:.2f} (CPU per record)"
        )
        row = {
            "measure": f"ingest: wrk, {args.glideins:,} glidein tokens, unique seqs",
            "ours": f"{mine['records_per_s']:,.0f} records/s, {mine['cpu_ms_per_1k']:.1f} ms CPU/1k",
            "peer": f"bare receiver {ref['records_per_s']:,.0f}/s, {ref['cpu_ms_per_1k']:.1f} ms/1k",
            "ratio": f"{ratio:.2f}x (CPU {cpu_ratio:.2f}x)",
            "target": ">= 1.0x",
            "met": ratio >= 1.0,
        }
        print("BENCH-ROW " + json.dumps(row), flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
