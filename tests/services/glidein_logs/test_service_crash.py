"""kill -9 of a real `aglidein run` during a load: every acknowledged record survives,
none is stored twice (DESIGN §8: a 2xx means durable)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from aglidein.logkeys import LogKeyring
from tests.conftest import MINIMAL_CONFIG
from tests.daemon_helpers import free_port, start_daemon
from tests.services.glidein_logs.helpers import ndjson

GLIDEINS = 6


def post_until_stopped(
    url: str, token: str, acked: set[int], stop: threading.Event, out_of_order: bool
) -> None:
    """Post 50-record batches (and retries of earlier ones); remember acknowledged seqs."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    start = 0
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            seqs = list(range(start, start + 50))
            if out_of_order and start % 200 == 100:
                seqs = seqs[::-1]
            try:
                response = client.post(url, content=ndjson(seqs), headers=headers)
            except httpx.HTTPError:
                return  # the daemon died mid-request: that batch is not acknowledged
            if response.status_code == 200:
                acked.update(seqs)
            start += 50
            if start % 300 == 0:  # a retry of an acknowledged batch
                try:
                    client.post(
                        url, content=ndjson(range(start - 100, start - 50)), headers=headers
                    )
                except httpx.HTTPError:
                    return


def test_kill_9_keeps_every_acknowledged_record_once(
    tmp_path: Path, signing_key: Path, write_config: Callable[[str], Path]
) -> None:
    port = free_port()
    state = tmp_path / "state"
    config = write_config(
        MINIMAL_CONFIG.format(
            state_dir=state, closed_port=free_port(), key=signing_key, http_port=port
        )
    )
    daemon = start_daemon(config, tmp_path, port)
    ring = LogKeyring.load(state)
    tokens = {
        f"g{i}": ring.mint(f"g{i}", "E1", now=time.time(), lifetime=3600) for i in range(GLIDEINS)
    }
    acked: dict[str, set[int]] = {name: set() for name in tokens}
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=post_until_stopped,
            args=(daemon.base_url + "/api/v1/logs", token, acked[name], stop, i % 2 == 0),
        )
        for i, (name, token) in enumerate(tokens.items())
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while sum(len(s) for s in acked.values()) < 3000 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(daemon.process.pid, signal.SIGKILL)
        daemon.process.wait(timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        daemon.notify.close()
    assert sum(len(s) for s in acked.values()) > 0
    (tmp_path / "notify.sock").unlink()
    restarted = start_daemon(config, tmp_path, port)
    try:
        for name, seqs in acked.items():
            response = restarted.get("/api/v1/logs", params={"glidein": name, "limit": 10000})
            stored = [r["seq"] for r in response.json()["records"]]
            assert len(stored) == len(set(stored)), f"{name}: a record stored twice"
            missing = seqs - set(stored)
            assert not missing, f"{name}: {len(missing)} acknowledged records lost"
            counted = next(
                g["record_count"]
                for g in restarted.get("/api/v1/glideins").json()["glideins"]
                if g["glidein"] == name
            )
            assert counted == len(stored)
            retry = httpx.post(
                restarted.base_url + "/api/v1/logs",
                content=ndjson(sorted(seqs)[:50]),
                headers={
                    "Authorization": f"Bearer {tokens[name]}",
                    "Content-Type": "application/x-ndjson",
                },
                timeout=10,
            )
            assert retry.json()["accepted"] == 0
    finally:
        restarted.stop()
        restarted.notify.close()
