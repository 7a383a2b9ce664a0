"""The real bindings against a schedd that accepts connections and never answers."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aglidein.condor.api import JobAction, SubmitDescription
from aglidein.condor.bindings import BindingsPool
from aglidein.errors import CondorTimeout
from tests.adapter_helpers import make_config

DEADLINE = 2.0
SLACK = 8.0  # worker start-up on a busy 2-core machine


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP listener that accepts (the kernel completes the handshake) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def _children() -> set[int]:
    me = os.getpid()
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            out.add(int(entry.name))
    return out


async def _with_liveness(call: object) -> tuple[BaseException | None, float, float]:
    """Run `call`, ticking the loop every 50 ms; (error, elapsed, worst tick gap)."""
    worst = 0.0
    error: BaseException | None = None
    done = anyio.Event()

    async def tick() -> None:
        nonlocal worst
        last = time.monotonic()
        while not done.is_set():
            await anyio.sleep(0.05)
            now = time.monotonic()
            worst = max(worst, now - last)
            last = now

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        try:
            await call()  # type: ignore[operator]
        except CondorTimeout as exc:
            error = exc
        finally:
            done.set()
    return error, time.monotonic() - started, worst


def _pool(tmp_path: Path, port: int) -> BindingsPool:
    config = make_config(
        tmp_path,
        factory={
            "deadlines": {
                "schedd_query": "2s",
                "collector_query": "2s",
                "submit": "2s",
                "act": "2s",
            }
        },
        pool={"collector": f"127.0.0.1:{port}", "factory_schedd": f"127.0.0.1:{port}"},
    )
    return BindingsPool(lambda: config, max_workers=2)


async def test_query_times_out_kills_its_worker_and_the_loop_keeps_answering(
    tmp_path: Path, silent_port: int
) -> None:
    pool = _pool(tmp_path, silent_port)
    before = _children()
    schedd = pool.schedd(f"127.0.0.1:{silent_port}")
    error, elapsed, worst_gap = await _with_liveness(
        lambda: schedd.query("JobStatus == 1", ["ClusterId"])
    )
    assert isinstance(error, CondorTimeout)
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    assert worst_gap < 1.0
    assert _children() <= before  # the hung worker was killed and reaped


async def test_submit_and_act_time_out(tmp_path: Path, silent_port: int) -> None:
    pool = _pool(tmp_path, silent_port)
    before = _children()
    schedd = pool.schedd(f"<127.0.0.1:{silent_port}>")
    description = SubmitDescription(
        commands=(("universe", "vanilla"), ("executable", "/bin/true")),
        queue_vars=("AglideinId",),
        itemdata=({"AglideinId": "a"}, {"AglideinId": "b"}),
    )
    error, elapsed, worst_gap = await _with_liveness(lambda: schedd.submit(description))
    assert isinstance(error, CondorTimeout)
    assert elapsed < DEADLINE + SLACK
    assert worst_gap < 1.0
    error, elapsed, _ = await _with_liveness(lambda: schedd.act(JobAction.REMOVE, ["1.0"]))
    assert isinstance(error, CondorTimeout)
    assert elapsed < DEADLINE + SLACK
    assert _children() <= before


async def test_collector_query_times_out(tmp_path: Path, silent_port: int) -> None:
    pool = _pool(tmp_path, silent_port)
    error, elapsed, worst_gap = await _with_liveness(lambda: pool.collector().query_startds())
    assert isinstance(error, CondorTimeout)
    assert elapsed < DEADLINE + SLACK
    assert worst_gap < 1.0


async def test_workers_start_under_python_dash_m_aglidein(
    tmp_path: Path, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """anyio's workers re-run the parent's __main__: `python -m aglidein` must allow it."""
    import sys

    import aglidein.__main__ as entry

    monkeypatch.setattr(sys.modules["__main__"], "__file__", entry.__file__, raising=False)
    pool = _pool(tmp_path, silent_port)
    with pytest.raises(CondorTimeout):
        await pool.schedd(f"127.0.0.1:{silent_port}").query()


def test_group_by_ads_merge_to_the_projection() -> None:
    from aglidein.condor.bindings import merge_groups

    # what the schedd returns when grouping by RequestCpus plus the constraint's JobStatus
    groups = [
        {"Id": 1, "JobIds": "1.0 1.2", "JobCount": 2, "requestcpus": 1, "JobStatus": 1},
        {"Id": 2, "JobIds": "1.1", "JobCount": 1, "requestcpus": 2, "JobStatus": 1},
        {"Id": 3, "JobIds": "2.0", "JobCount": 3, "requestcpus": 1, "JobStatus": 2},
    ]
    assert merge_groups(groups, ["RequestCpus"]) == [
        {"RequestCpus": 1, "JobCount": 5, "AutoClusterId": 0},
        {"RequestCpus": 2, "JobCount": 1, "AutoClusterId": 1},
    ]
