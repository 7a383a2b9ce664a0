"""Run the log service behind a real HTTP server in the test's event loop."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import orjson

from aglidein.clock import SystemClock
from aglidein.config import parse_config_text
from aglidein.logkeys import LogKeyring
from aglidein.services.glidein_logs.service import LogService
from aglidein.services.http import ApiRoute, HttpService
from aglidein.services.metrics import Metrics
from aglidein.services.runtime import ConfigHolder, Runtime, StatusBoard
from aglidein.state import StateDB

CONFIG = """\
factory: {{name: f, state_dir: {state}}}
pool: {{collector: 127.0.0.1:1, trust_domain: t, signing_key: /k}}
http: {{listen: ["127.0.0.1:0"]{tokens}}}
logs: {logs}
"""


@dataclass
class LogServer:
    """A running log service."""

    url: str
    logs: LogService
    http: HttpService
    state_dir: Path

    def keyring(self) -> LogKeyring:
        return LogKeyring.load(self.state_dir)

    def token(self, glidein: str, entry: str = "E1", lifetime: float = 3600) -> str:
        return self.keyring().mint(glidein, entry, now=time.time(), lifetime=lifetime)

    def headers(self, glidein: str, entry: str = "E1") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token(glidein, entry)}",
            "Content-Type": "application/x-ndjson",
        }


async def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait until `condition()` holds (a liveness bound, not a speed claim)."""
    for _ in range(int(within_s / 0.05)):
        if condition():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"condition not met within {within_s} s")


def ndjson(seqs: range | list[int], *, level: str = "info", msg: str = "step {seq}") -> bytes:
    """A batch of valid records."""
    return b"\n".join(
        orjson.dumps(
            {
                "seq": s,
                "ts": f"2026-01-01T00:00:{s % 60:02d}Z",
                "level": level,
                "event": "test.step",
                "msg": msg.format(seq=s),
                "n": s,
            }
        )
        for s in seqs
    )


@asynccontextmanager
async def log_server(
    tmp_path: Path,
    *,
    logs: str = "{}",
    read_token: str | None = None,
    routes: Callable[[Runtime], list[ApiRoute]] | None = None,
) -> AsyncIterator[LogServer]:
    """Start store + HTTP on an ephemeral port; stop them in daemon order. `routes`: more
    routes on the same server (the status pages)."""
    tokens = ""
    if read_token is not None:
        path = tmp_path / "read.token"
        path.write_text(read_token + "\n")
        path.chmod(0o600)
        tokens = f", read_token_file: {path}"
    state = tmp_path / "state"
    loaded = parse_config_text(CONFIG.format(state=state, tokens=tokens, logs=logs))
    state.mkdir(exist_ok=True)
    runtime = Runtime(
        config=ConfigHolder(loaded),
        metrics=Metrics(),
        clock=SystemClock(),
        state=StateDB.open(state / "state.db"),
        status=StatusBoard(factory_name="f", started=time.time()),
    )
    runtime.status.ready = True
    service = LogService(runtime)
    http = HttpService(runtime, [*service.routes(), *(routes(runtime) if routes else [])])
    http.ready_checks.append(service.ready)
    async with anyio.create_task_group() as tg:
        await tg.start(service.run)
        await tg.start(service.closer.run)
        await tg.start(http.run)
        host, port = http.bound[0]
        try:
            yield LogServer(f"http://{host}:{port}", service, http, state)
        finally:
            await service.closer.stop()
            await http.stop()
            await service.stop()
    runtime.state.close()
