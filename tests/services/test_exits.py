"""Glidein exits are counted once each, by entry and reason, across scans and restarts."""

from __future__ import annotations

from pathlib import Path

from aglidein.condor.userlog import append_event, format_event
from aglidein.services.exits import USERLOG_NAME, ExitWatcher
from aglidein.services.metrics import Metrics
from aglidein.state import StateDB


def _end(path: Path, proc: int, code: int) -> None:
    body = f"(1) Normal termination (return value {code})"
    append_event(path, format_event(5, 1, proc, 0.0, "Job terminated.", body))


async def test_each_exit_is_counted_once_even_after_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "glideins" / "CE_A" / USERLOG_NAME
    _end(log, 0, 0)
    append_event(log, format_event(9, 1, 1, 0.0, "Job was aborted.", "via condor_rm"))
    state = StateDB.open(tmp_path / "state.db")
    try:
        metrics = Metrics()
        ended: list[int] = []
        watcher = ExitWatcher(
            tmp_path / "glideins", state, metrics, on_ends=lambda ends: ended.append(len(ends))
        )
        first = await watcher.scan(["CE_A", "CE_B"])
        assert set(first) == {"CE_A"}
        assert sum(first["CE_A"].values()) == 2
        assert "removed" in first["CE_A"]
        assert ended == [2]
        assert await watcher.scan(["CE_A"]) == {}
        _end(log, 2, 0)
        # a new watcher (a restart) starts where the last scan stopped
        again = await ExitWatcher(tmp_path / "glideins", state, metrics).scan(["CE_A"])
        assert sum(again["CE_A"].values()) == 1
    finally:
        state.close()
    text = metrics.render().decode()
    assert 'aglidein_glidein_exits_total{entry="CE_A",group="unknown",reason="removed"} 1.0' in text


async def test_each_factory_schedd_has_its_own_log_and_ends_name_it(tmp_path: Path) -> None:
    entry = tmp_path / "glideins" / "CE_A"
    _end(entry / USERLOG_NAME, 0, 0)  # 1.0 on fs1 (the first: the old file name)
    _end(entry / "glideins@fs2.log", 0, 1)  # 1.0 on fs2 as well
    state = StateDB.open(tmp_path / "state.db")
    try:
        seen: list[tuple[str, int, int, int | None]] = []
        watcher = ExitWatcher(
            tmp_path / "glideins",
            state,
            Metrics(),
            on_ends=lambda ends: seen.extend(
                (e.schedd, e.cluster, e.proc, e.exit_code) for e in ends
            ),
        )
        found = await watcher.scan(["CE_A"], ("fs1", "fs2"))
        assert sum(found["CE_A"].values()) == 2
        assert sorted(seen) == [("fs1", 1, 0, 0), ("fs2", 1, 0, 1)]
        assert await watcher.scan(["CE_A"], ("fs1", "fs2")) == {}  # offsets kept per file
        assert set(await state.get_json("userlog_offsets") or {}) == {
            "CE_A",
            "CE_A/glideins@fs2.log",
        }
    finally:
        state.close()
