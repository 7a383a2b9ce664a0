"""Glidein exits are counted once each, by entry and reason, across scans and restarts."""

from __future__ import annotations

import os
import time
from pathlib import Path

from structlog.testing import capture_logs

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


DAY = 86400.0


def _aged(path: Path, days: float) -> Path:
    when = time.time() - days * DAY
    os.utime(path, (when, when))
    return path


async def test_every_user_log_of_an_entry_is_read_once_across_restarts_and_the_rename(
    tmp_path: Path,
) -> None:
    entry = tmp_path / "glideins" / "CE_A"
    schedds = ("fs1", "fs2")
    _end(entry / USERLOG_NAME, 0, 0)  # written by the versions before dated names
    _end(entry / "glideins@fs2.log", 0, 0)
    state = StateDB.open(tmp_path / "state.db")
    try:
        # what such a version left: fs2's log read, not yet the first schedd's
        size = (entry / "glideins@fs2.log").stat().st_size
        await state.put_json("userlog_offsets", {"CE_A/glideins@fs2.log": size})
        seen: list[tuple[str, int, int]] = []
        watcher = ExitWatcher(
            tmp_path / "glideins",
            state,
            Metrics(),
            on_ends=lambda ends: seen.extend((e.schedd, e.cluster, e.proc) for e in ends),
        )
        assert await watcher.scan(["CE_A"], schedds) == {"CE_A": {"ok": 1}}
        assert await state.get_json("userlog_offsets") == {
            "CE_A": (entry / USERLOG_NAME).stat().st_size,
            "CE_A/glideins@fs2.log": size,
        }
        # the upgrade: glideins queued before it go on ending in the legacy log, new ones
        # end in the logs of their submission day, on either schedd
        _end(entry / USERLOG_NAME, 1, 0)
        _end(entry / "glideins@fs2.log", 1, 0)
        _end(entry / "glideins-20261206.log", 0, 10)
        _end(entry / "glideins-20261207.log", 0, 0)
        _end(entry / "glideins@fs2-20261207.log", 2, 0)
        (entry / "abc.err").write_text("not a user log\n")
        metrics = Metrics()
        again = ExitWatcher(  # a restart: a new watcher, the same state DB
            tmp_path / "glideins",
            state,
            metrics,
            on_ends=lambda ends: seen.extend((e.schedd, e.cluster, e.proc) for e in ends),
        )
        assert await again.scan(["CE_A"], schedds) == {"CE_A": {"ok": 4, "validation_failed": 1}}
        assert sorted(seen) == [
            ("fs1", 1, 0),
            ("fs1", 1, 0),  # 1.0 of glideins-20261206.log, the legacy one was read before
            ("fs1", 1, 0),  # 1.0 of glideins-20261207.log (one cluster per day here)
            ("fs1", 1, 1),
            ("fs2", 1, 1),  # 1.0 was read by the version before
            ("fs2", 1, 2),
        ]
        assert await again.scan(["CE_A"], schedds) == {}
        _end(entry / "glideins-20261207.log", 1, 0)
        third = ExitWatcher(tmp_path / "glideins", state, Metrics())
        assert await third.scan(["CE_A"], schedds) == {"CE_A": {"ok": 1}}
        assert set(await state.get_json("userlog_offsets") or {}) == {
            "CE_A",
            "CE_A/glideins@fs2.log",
            "CE_A/glideins-20261206.log",
            "CE_A/glideins-20261207.log",
            "CE_A/glideins@fs2-20261207.log",
        }
    finally:
        state.close()
    text = metrics.render().decode()
    assert 'aglidein_glidein_exits_total{entry="CE_A",group="unknown",reason="ok"} 4.0' in text


async def test_a_user_log_is_deleted_once_read_to_its_end_and_older_than_the_retention(
    tmp_path: Path,
) -> None:
    root = tmp_path / "glideins"
    old_read = root / "CE_A" / "glideins-20261101.log"
    old_legacy = root / "CE_A" / USERLOG_NAME
    old_unread = root / "CE_B" / "glideins@fs2-20261101.log"
    old_half = root / "CE_B" / "glideins-20261101.log"
    young = root / "CE_A" / "glideins-20261207.log"
    for path in (old_read, old_legacy, old_half, young):
        _end(path, 0, 0)
    state = StateDB.open(tmp_path / "state.db")
    try:
        retention = 10 * DAY
        watcher = ExitWatcher(root, state, Metrics(), retention=lambda: retention)
        assert await watcher.scan(["CE_A", "CE_B"], ("fs1", "fs2")) == {
            "CE_A": {"ok": 3},
            "CE_B": {"ok": 1},
        }
        # ends written since the last scan are read, then the file goes: nothing lost
        _end(old_unread, 0, 12)
        with old_half.open("a") as handle:  # an event half written: bytes still to read
            handle.write("005 (001.001.000) 2026-11-01 00:00:00 Job terminated.\n")
        for path in (old_read, old_legacy, old_unread, old_half):
            _aged(path, 11)
        _aged(young, 9)
        (root / "CE_A" / "abc.out").write_text("output\n")  # OutputFiles' business
        _aged(root / "CE_A" / "abc.out", 11)
        with capture_logs() as logs:
            found = await watcher.scan(["CE_A", "CE_B"], ("fs1", "fs2"))
        assert found == {"CE_B": {"black_hole": 1}}
        assert [p.exists() for p in (old_read, old_legacy, old_unread)] == [False] * 3
        assert [p.exists() for p in (old_half, young, root / "CE_A" / "abc.out")] == [True] * 3
        assert [e["files"] for e in logs if e["event"] == "glidein.userlogs_expired"] == [3]
        offsets = await state.get_json("userlog_offsets") or {}
        assert set(offsets) == {"CE_A/glideins-20261207.log", "CE_B/glideins-20261101.log"}
        # the half event completed: read, then deleted (the file is written again, so
        # it waits for the retention again)
        with old_half.open("a") as handle:
            handle.write("\t(1) Normal termination (return value 0)\n...\n")
        assert await watcher.scan(["CE_A", "CE_B"], ("fs1", "fs2")) == {"CE_B": {"ok": 1}}
        assert old_half.exists()
        _aged(old_half, 11)
        assert await watcher.scan(["CE_A", "CE_B"], ("fs1", "fs2")) == {}
        assert not old_half.exists()
        assert set(await state.get_json("userlog_offsets") or {}) == {"CE_A/glideins-20261207.log"}
    finally:
        state.close()


async def test_a_user_log_deleted_by_hand_is_forgotten_and_a_new_one_read_whole(
    tmp_path: Path,
) -> None:
    log = tmp_path / "glideins" / "CE_A" / "glideins-20261207.log"
    _end(log, 0, 0)
    _end(log, 1, 0)
    state = StateDB.open(tmp_path / "state.db")
    try:
        watcher = ExitWatcher(tmp_path / "glideins", state, Metrics())
        assert await watcher.scan(["CE_A"]) == {"CE_A": {"ok": 2}}
        log.unlink()
        assert await watcher.scan(["CE_A"]) == {}
        assert await state.get_json("userlog_offsets") == {}
        _end(log, 2, 0)  # shorter than the old offset, but read from its start either way
        assert await watcher.scan(["CE_A"]) == {"CE_A": {"ok": 1}}
    finally:
        state.close()
