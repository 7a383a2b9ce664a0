"""Ingest benchmark: wrk posts 100-record NDJSON batches as 1,000 glideins (16
connections) to a real `aglidein run` and — in the same run — to a minimal reference
receiver (uvicorn + orjson + SQLite executemany, no auth, no dedupe), in alternating
rounds (ours, reference, then reference, ours, ...; every round's seqs new to the daemon)
so that a change of load on a shared machine hits both alike (after each of the daemon's
rounds its index catches up before the next round starts); each server's best round is
compared. Prints records/s, p50/p99 latency, peak RSS, index lag, CPU time per 1,000
records (every thread of the server and of its log writer process, during the load) and
both ratios. Never asserts.

    .venv/bin/python bench/ingest/run.py [--duration 10] [--rounds 2] [--glideins 1000]
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


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...); [] when
    the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def family(pid: int) -> list[int]:
    """A process and its children (the daemon's log writer process)."""
    pids = [int(path.name) for path in Path("/proc").glob("[0-9]*")]
    return [pid, *(child for child in pids if stat_fields(child)[1:2] == [str(pid)])]


class PeakRss:
    """Samples the resident memory of a process and its children together (their peak)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0

    def sample(self) -> None:
        total = 0
        for pid in family(self.pid):
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmRSS:\s+(\d+)", text)
            total += int(match.group(1)) if match else 0
        self.peak_kib = max(self.peak_kib, total)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children (all their threads) have used."""
    total = 0
    for member in family(pid):
        fields = stat_fields(member)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, tokens: Path, args: argparse.Namespace, base: int) -> dict[str, float]:
    """One wrk run, every glidein's seqs from `base` + 1; its WRK summary line as numbers."""
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
        str(base),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    match = re.search(r"WRK (.*)", out)
    if not match:
        raise SystemExit(f"wrk said:\n{out}")
    return {k: float(v) for k, v in (kv.split("=") for kv in match.group(1).split())}


def measure(
    name: str,
    process: subprocess.Popen[bytes],
    url: str,
    tokens: Path,
    args: argparse.Namespace,
    base: int,
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
    result = run_wrk(url, tokens, args, base)
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


def start_daemon(work: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], int]:
    """`aglidein run` with a config of its own in `work`; the process and its port."""
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
    with open(work / "daemon.log", "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aglidein", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    wait_ready(f"http://127.0.0.1:{port}/readyz", daemon)
    return daemon, port


def mint_tokens(work: Path, count: int) -> Path:
    """A file of `count` glideins' log tokens, one a line."""
    from aglidein.logkeys import LogKeyring

    ring = LogKeyring.load(work / "state")
    tokens = work / "tokens.txt"
    now = time.time()
    tokens.write_text(
        "".join(
            ring.mint(f"bench-{i:05d}", f"ENTRY_{i % 10}", now=now, lifetime=86400) + "\n"
            for i in range(count)
        )
    )
    return tokens


def settle(port: int) -> dict[str, float]:
    """Once a round of load on the daemon stopped: its index lag a second later and how long
    it took to catch up. The next round starts after, so that the index catching up never
    shares the CPU with a round (of either server)."""
    time.sleep(1.0)
    out = {"index_lag_after_1s": index_lag(port)}
    t0 = time.monotonic()
    while index_lag(port) > 0 and time.monotonic() - t0 < 300:
        time.sleep(0.5)
    out["catch_up_s"] = time.monotonic() - t0 + 1.0
    return out


def after_load(port: int, args: argparse.Namespace, tokens: Path) -> dict[str, float]:
    """The daemon after every round: records stored, and the index lag under a sustained
    rate."""
    body = httpx.get(f"http://127.0.0.1:{port}/api/v1/glideins?limit=100000", timeout=30)
    out = {"stored_records": float(sum(g["record_count"] for g in body.json()["glideins"]))}
    if args.sustained:
        lag, achieved = sustained(
            f"http://127.0.0.1:{port}", tokens, args.sustained, args.duration * 2
        )
        out["sustained_max_lag_s"] = lag
        out["sustained_rate"] = achieved
    return out


def best(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The round with the most records/s."""
    return max(rounds, key=lambda r: r["records_per_s"])


def main() -> None:
    """Run both servers, alternating rounds, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per server, alternating")
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
        help="after the rounds, post RATE records/s for 2x duration and report the index lag "
        "(0 to skip)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="aglidein-bench-"))
    rounds: dict[str, list[dict[str, float]]] = {"aglidein": [], "reference": []}
    daemon, port = start_daemon(work, args)
    reference: subprocess.Popen[bytes] | None = None
    try:
        tokens = mint_tokens(work, args.glideins)
        servers = {"aglidein": (daemon, f"http://127.0.0.1:{port}/api/v1/logs")}
        if not args.skip_reference:
            ref_port = free_port()
            reference = subprocess.Popen(
                [sys.executable, str(HERE / "reference.py"), str(ref_port), str(work / "ref.db")]
            )
            wait_ready(f"http://127.0.0.1:{ref_port}/", reference)
            servers["reference"] = (reference, f"http://127.0.0.1:{ref_port}/api/v1/logs")
        settled = {"index_lag_after_1s": 0.0, "catch_up_s": 0.0}
        for n in range(args.rounds):
            order = list(servers) if n % 2 == 0 else list(reversed(servers))
            for name in order:
                process, url = servers[name]
                result = measure(name, process, url, tokens, args, base=n * 10**9)
                rounds[name].append(result)
                print(f"  round {n + 1} {name:<10} {result['records_per_s']:>10.0f} records/s")
                if name == "aglidein":
                    settled = settle(port)
        after = {**after_load(port, args, tokens), **settled}
    finally:
        for server in (daemon, reference):
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
    report(args, rounds, after)
    shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace, rounds: dict[str, list[dict[str, float]]], after: dict[str, float]
) -> None:
    """The table (each server's best round), the daemon's after-load figures, the ratio."""
    print(
        f"ingest benchmark: {args.glideins} glideins, {args.connections} connections, "
        f"{args.rounds} alternating rounds of {args.duration}s per server (best shown), "
        f"100 records/batch, fsync={args.fsync}"
    )
    print(
        f"{'server':<10} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'peak RSS MiB':>13} {'max index lag s':>16} {'CPU ms/1k rec':>14}"
    )
    for name, runs in rounds.items():
        if not runs:
            continue
        r = best(runs)
        print(
            f"{name:<10} {r['records_per_s']:>10.0f} {r['p50_us'] / 1000:>8.1f} "
            f"{r['p99_us'] / 1000:>8.1f} {r['errors']:>7.0f} {r['peak_rss_mib']:>13.0f} "
            f"{r['max_index_lag_s']:>16.2f} {r['cpu_ms_per_1k']:>14.1f}"
        )
    acknowledged = sum((r["requests"] - r["errors"]) * 100 for r in rounds["aglidein"])
    print(
        f"aglidein stored {after['stored_records']:.0f} records "
        f"(acknowledged {acknowledged:.0f}); "
        f"index lag 1 s after its last round: {after['index_lag_after_1s']:.2f} s, "
        f"caught up {after['catch_up_s']:.1f} s after it"
    )
    if "sustained_max_lag_s" in after:
        print(
            f"sustained load ({after['sustained_rate']:.0f} records/s for "
            f"{args.duration * 2}s): max index lag {after['sustained_max_lag_s']:.2f} s"
        )
    if not rounds["reference"]:
        return
    mine, ref = best(rounds["aglidein"]), best(rounds["reference"])
    ratio = mine["records_per_s"] / ref["records_per_s"]
    cpu_ratio = ref["cpu_ms_per_1k"] / mine["cpu_ms_per_1k"]
    print(f"ratio aglidein/reference: {ratio:.2f} (records/s), {cpu_ratio:.2f} (CPU per record)")
    row = {
        "measure": f"ingest: wrk, {args.glideins:,} glidein tokens, unique seqs",
        "ours": f"{mine['records_per_s']:,.0f} records/s, {mine['cpu_ms_per_1k']:.1f} ms CPU/1k",
        "peer": f"bare receiver {ref['records_per_s']:,.0f}/s, {ref['cpu_ms_per_1k']:.1f} ms/1k",
        "ratio": f"{ratio:.2f}x (CPU {cpu_ratio:.2f}x)",
        "target": ">= 1.0x",
        "met": ratio >= 1.0,
    }
    print("BENCH-ROW " + json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
