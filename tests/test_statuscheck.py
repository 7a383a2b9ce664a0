"""`aglidein status --check` (a Nagios plugin) and the collector / factory schedd rows,
as an operator runs them against a daemon."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest

from aglidein.cli import main
from aglidein.statuscheck import CheckState, check_status
from tests.daemon_helpers import RunningDaemon, free_port, simulated_daemon, simulated_pool_config

NOW = 1_796_000_000.0


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _document(**changes: object) -> dict[str, object]:
    source = {"ok": True, "last_poll": _iso(NOW - 5), "last_ok": _iso(NOW - 5), "cycle_s": 60}
    document: dict[str, object] = {
        "factory": {"name": "f"},
        "pool": {
            "collector": {"name": "cm.example.org", **source},
            "factory_schedd": {"name": "local", **source},
        },
        "entries": [{"name": "CE1", "health": "ok", "glideins": {"running": 4}}],
        "credentials": [{"name": "proxy", "expires": _iso(NOW + 86400), "warn_before_s": 3600.0}],
    }
    document.update(changes)
    return document


def _wait_for_pool(base_url: str, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = httpx.get(base_url + "/api/v1/status", timeout=10).json()
        except httpx.HTTPError:
            status = {}
        if len(status.get("pool") or {}) == 2:
            return dict(status)
        time.sleep(0.2)
    raise AssertionError("no poll of the collector and factory schedd in the status")


def test_unreachable_collector_and_factory_schedd_are_critical(
    daemon: RunningDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _wait_for_pool(daemon.base_url)
    pool = status["pool"]
    assert isinstance(pool, dict)
    assert pool["collector"]["ok"] is False
    assert pool["collector"]["last_poll"]
    assert pool["collector"]["last_error"]
    assert pool["factory_schedd"]["ok"] is False
    assert main(["status", "--check", "--url", daemon.base_url]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("AGLIDEIN CRITICAL - collector 127.0.0.1:")
    assert "unreachable" in out
    assert "factory schedd 127.0.0.1:" in out
    assert main(["status", "--url", daemon.base_url]) == 0
    table = capsys.readouterr().out
    for column in ("collector", "factory schedd", "reachable", "last poll"):
        assert column in table


def test_an_unreachable_daemon_is_critical_and_a_check_that_cannot_run_unknown(
    daemon: RunningDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port()
    assert main(["status", "--check", "--url", f"http://127.0.0.1:{closed}"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("AGLIDEIN CRITICAL - daemon: cannot reach the daemon at")
    # the check cannot run at all: that is not the pool's state
    missing = main(["status", "--check", "--url", daemon.base_url, "--token-file", "/nonexist"])
    assert missing == 3
    assert capsys.readouterr().out.splitlines()[-1].startswith("AGLIDEIN UNKNOWN - ")


SCENARIO = {
    "schedds": [{"name": "schedd1", "jobs": [{"count": 5, "attrs": {"DESIRED_Sites": "SiteA"}}]}],
    "entries": {"default": {"queue_time": "1h"}},
}


async def test_check_is_ok_on_a_healthy_simulated_pool(
    tmp_path: Path, signing_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    daemon = simulated_daemon(
        simulated_pool_config(tmp_path, signing_key, port, SCENARIO), tmp_path
    )
    base = f"http://127.0.0.1:{port}"
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(daemon.run)
            status = await anyio.to_thread.run_sync(_wait_for_pool, base)
            pool = status["pool"]
            assert isinstance(pool, dict)
            assert pool["collector"]["name"] == "cm.example.org:9618"
            assert pool["factory_schedd"] == {
                **pool["factory_schedd"],
                "name": "local",
                "ok": True,
                "last_error": None,
            }
            code = await anyio.to_thread.run_sync(main, ["status", "--check", "--url", base])
            daemon.request_stop()
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("AGLIDEIN")]
    assert code == 0, line
    assert line.startswith("AGLIDEIN OK - sim: collector and factory schedd reachable")


def test_thresholds_an_operator_expects() -> None:
    ok = check_status(_document(), NOW)
    assert ok.state is CheckState.OK
    assert ok.line.startswith("AGLIDEIN OK - f: collector and factory schedd reachable")
    assert "4 glideins running" in ok.line

    backoff = _document(entries=[{"name": "CE1", "health": "backoff"}, {"name": "CE2"}])
    result = check_status(backoff, NOW)
    assert result.state is CheckState.WARNING
    assert result.line == "AGLIDEIN WARNING - 1 entry in backoff: CE1"

    soon = [{"name": "proxy", "expires": _iso(NOW + 1800), "warn_before_s": 3600.0}]
    result = check_status(_document(credentials=soon), NOW)
    assert result.state is CheckState.WARNING
    assert result.line == "AGLIDEIN WARNING - credential proxy expires in 30m"

    gone = [{"name": "proxy", "expires": _iso(NOW - 7200), "warn_before_s": 3600.0}]
    assert check_status(_document(credentials=gone), NOW).line == (
        "AGLIDEIN CRITICAL - credential proxy expired 2.0h ago"
    )
    unreadable = [{"name": "proxy", "expires": None, "last_error": "no such file"}]
    assert check_status(_document(credentials=unreadable), NOW).state is CheckState.CRITICAL

    stale = _document()
    pool = stale["pool"]
    assert isinstance(pool, dict)
    pool["collector"] = {**pool["collector"], "last_poll": _iso(NOW - 600)}
    result = check_status(stale, NOW)
    assert result.state is CheckState.WARNING
    assert "collector cm.example.org last polled 10m ago" in result.line

    down = _document(entries=[{"name": "CE1", "health": "backoff"}])
    pool = down["pool"]
    assert isinstance(pool, dict)
    pool["factory_schedd"] = {**pool["factory_schedd"], "ok": False, "last_error": "timeout"}
    result = check_status(down, NOW)
    assert result.state is CheckState.CRITICAL
    assert result.line == (
        "AGLIDEIN CRITICAL - factory schedd local unreachable: timeout; 1 entry in backoff: CE1"
    )

    assert check_status(_document(pool={}), NOW).line == (
        "AGLIDEIN WARNING - collector not polled yet; factory schedd not polled yet"
    )


@pytest.mark.parametrize("document", [[], {"entries": []}, "x", {"factory": {}, "pool": []}])
def test_an_answer_that_is_not_a_status_document_is_unknown(document: object) -> None:
    result = check_status(document, NOW)
    assert result.state is CheckState.UNKNOWN
    assert result.line.startswith("AGLIDEIN UNKNOWN - cannot read the status document")


def test_every_factory_schedd_has_a_row_and_any_unreachable_is_critical() -> None:
    from aglidein.statuscheck import pool_rows

    source = {"ok": True, "last_poll": _iso(NOW - 5), "last_ok": _iso(NOW - 5), "cycle_s": 60}
    down = {**source, "ok": False, "last_error": "connection refused"}
    pool = {
        "collector": {"name": "cm.example.org", **source},
        "factory_schedd": {"name": "fs1", **source},
        "factory_schedd:fs2": {"name": "fs2", **source},
    }
    ok = check_status(_document(pool=pool), NOW)
    assert ok.state is CheckState.OK
    assert "collector and 2 factory schedds reachable" in ok.line
    rows = pool_rows({"pool": pool})
    assert [(r["source"], r["name"]) for r in rows] == [
        ("collector", "cm.example.org"),
        ("factory schedd", "fs1"),
        ("factory schedd", "fs2"),
    ]
    result = check_status(
        _document(pool={**pool, "factory_schedd:fs2": {"name": "fs2", **down}}), NOW
    )
    assert result.state is CheckState.CRITICAL
    assert "factory schedd fs2 unreachable: connection refused" in result.line
