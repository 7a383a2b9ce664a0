"""The daemon while every HTCondor endpoint is a TCP listener that never answers.

Collector, factory schedd and user schedd all point at one local listener that accepts
connections and never says a word. The daemon's condor calls run in killable worker
processes under deadlines, so the event loop must keep serving: this prints /healthz
latency and the event-loop lag the daemon measured (target: /healthz < 100 ms, lag p99
< 20 ms). It prints figures; it does not assert.

    .venv/bin/python bench/condor_silent.py [--duration 30]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

CONFIG = """\
factory:
  name: bench-silent
  state_dir: {state}
  cycle: 5s
  shutdown_grace: 10s
{owner}  deadlines: {{schedd_query: 2s, collector_query: 2s, submit: 2s, act: 2s}}
pool:
  collector: 127.0.0.1:{silent}
  trust_domain: bench.example.org
  signing_key: {key}
  factory_schedd: 127.0.0.1:{silent}
http:
  listen: ["127.0.0.1:{http}"]
groups:
  - name: main
    schedds: ["127.0.0.1:{silent}"]
    match: "true"
entries:
  - name: CE1
    gridtype: condor
    gatekeeper: ce1.example.org
    auth: {{method: idtoken}}
    attrs: {{GLIDEIN_Site: Bench}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _silent_listener(stop: threading.Event) -> tuple[int, list[socket.socket]]:
    """Accept every connection, never read, never answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    listener.settimeout(0.2)
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
        listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1]), held


def _lag_p99(metrics_text: str) -> tuple[float, int]:
    """p99 upper bound from the lag histogram's cumulative buckets, and the sample count."""
    buckets = []
    for match in re.finditer(
        r'aglidein_event_loop_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', metrics_text
    ):
        bound = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
        buckets.append((bound, float(match.group(2))))
    if not buckets:
        return float("nan"), 0
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= 0.99 * total:
            return bound, int(total)
    return float("inf"), int(total)


def _counter(metrics_text: str, name: str) -> float:
    return sum(
        float(m.group(1))
        for m in re.finditer(rf"^{name}(?:\{{[^}}]*\}})? ([0-9.e+]+)$", metrics_text, re.M)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds to measure")
    args = parser.parse_args()
    stop = threading.Event()
    silent, held = _silent_listener(stop)
    http = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "POOL"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
        config = Path(tmp) / "aglidein.yaml"
        config.write_text(
            CONFIG.format(
                state=Path(tmp) / "state",
                silent=silent,
                key=key,
                http=http,
                # root must name an unprivileged job owner; the bench never reaches a schedd
                owner="  job_owner: nobody\n" if os.geteuid() == 0 else "",
            )
        )
        log = open(os.environ.get("BENCH_LOG", str(Path(tmp) / "daemon.log")), "wb")  # noqa: SIM115
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aglidein", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{http}"
        latencies: list[float] = []
        failures = 0
        try:
            with httpx.Client(timeout=5.0) as client:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        if client.get(base + "/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                end = time.monotonic() + args.duration
                while time.monotonic() < end:
                    started = time.perf_counter()
                    try:
                        ok = client.get(base + "/healthz").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.perf_counter() - started)
                    failures += 0 if ok else 1
                    time.sleep(0.05)
                metrics = client.get(base + "/metrics").text
                status = client.get(base + "/api/v1/status").json()
        finally:
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log.close()
            stop.set()
            for conn in held:
                conn.close()
    lag_p99, lag_samples = _lag_p99(metrics)
    latencies.sort()
    print(f"silent endpoints: collector, factory schedd, user schedd at 127.0.0.1:{silent}")
    print(f"measured for {args.duration:.0f}s; connections the listener held: {len(held)}")
    print(
        f"/healthz: {len(latencies)} requests, {failures} failed; "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(0.99 * (len(latencies) - 1))] * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    print(f"event-loop lag p99 <= {lag_p99 * 1000:.1f} ms ({lag_samples} samples)")
    print(
        f"cycles: {status['factory']['cycle']['number']}; "
        f"schedd query failures: {_counter(metrics, 'aglidein_schedd_query_failures_total'):.0f}; "
        f"factory schedd up: {_counter(metrics, 'aglidein_factory_schedd_up'):.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
