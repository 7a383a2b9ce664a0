"""The factory's time series: buckets, averages, sums, ranges and retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from aglidein.errors import StoreError
from aglidein.store.history import (
    COARSE,
    FINE,
    MAX_ROWS_PER_SERIES,
    RANGES,
    HistoryPoint,
    HistoryStore,
    history_range,
)

T0 = 1_800_000_000.0  # a whole number of 10-minute buckets


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    history = HistoryStore(tmp_path / "history.db")
    history.open()
    yield history  # type: ignore[misc]
    history.close()


def point(idle: int = 0, submitted: int = 0, exits: dict[str, int] | None = None) -> HistoryPoint:
    return HistoryPoint("entry", "E", idle=idle, running=2, submitted=submitted, exits=exits or {})


async def test_a_bucket_averages_gauges_and_sums_counts(store: HistoryStore) -> None:
    await store.record(T0, [point(idle=4, submitted=3, exits={"ok": 1})])
    await store.record(T0 + 30, [point(idle=8, submitted=2, exits={"ok": 1, "validation": 2})])
    await store.record(T0 + 60, [point(idle=1)])
    samples = await store.series("entry", "E", RANGES["1h"], T0 + 60)
    assert [s.ts for s in samples] == [T0, T0 + FINE]
    first = samples[0]
    assert (first.idle, first.running, first.submitted) == (6.0, 2.0, 5)
    assert first.exits == {"ok": 2, "validation": 2}
    assert first.value("exits:validation") == 2.0
    assert first.value("idle") == 6.0
    assert samples[1].idle == 1.0
    assert samples[1].exits == {}
    coarse = await store.series("entry", "E", RANGES["7d"], T0 + 60)
    assert len(coarse) == 1
    assert coarse[0].ts == T0
    assert coarse[0].submitted == 5
    assert store.last_submit == {"E": T0 + 30}
    assert await store.series("entry", "other", RANGES["1h"], T0) == []
    assert await store.series("group", "E", RANGES["1h"], T0) == []


async def test_ranges_cut_by_age_and_exit_totals_count_the_last_hour(store: HistoryStore) -> None:
    for minute in range(0, 180):
        await store.record(T0 + minute * 60, [point(idle=minute, exits={"ok": 1})])
    now = T0 + 179 * 60
    hour = await store.series("entry", "E", RANGES["1h"], now)
    assert len(hour) == 61
    assert hour[-1].idle == 179.0
    day = await store.series("entry", "E", RANGES["24h"], now)
    assert len(day) == 180
    week = await store.series("entry", "E", RANGES["7d"], now)
    assert len(week) == 18
    assert week[0].idle == 4.5
    totals = await store.exit_totals("entry", now - 3600)
    assert totals == {"E": {"ok": 61}}


def test_retention_keeps_rows_bounded_and_drops_the_oldest(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history.db")
    store.open()
    try:
        # ten days of one cycle a minute, for two series
        for minute in range(0, 10 * 1440):
            now = T0 + minute * 60
            store.record_sync(
                now,
                [
                    HistoryPoint("entry", "E", idle=1, exits={"ok": 1}),
                    HistoryPoint("factory", "", idle=1),
                ],
            )
        now = T0 + (10 * 1440 - 1) * 60
        rows = store._run_sync(
            lambda c: c.execute(
                "SELECT tier, MIN(bucket), COUNT(*) FROM points GROUP BY tier"
            ).fetchall()
        )
        by_tier = {tier: (oldest, count) for tier, oldest, count in rows}
        assert by_tier[FINE][1] <= 2 * (26 * 60 + 1)
        assert by_tier[COARSE][1] <= 2 * (8 * 144 + 1)
        assert by_tier[FINE][0] >= now - 26 * 3600 - FINE
        assert by_tier[COARSE][0] >= now - 8 * 86400 - COARSE
        exits = store._run_sync(lambda c: c.execute("SELECT COUNT(*) FROM exits").fetchone()[0])
        assert exits <= MAX_ROWS_PER_SERIES
    finally:
        store.close()
    reopened = HistoryStore(tmp_path / "history.db")  # the rows survive a restart
    reopened.open()
    try:
        assert reopened._run_sync(lambda c: c.execute("SELECT COUNT(*) FROM points").fetchone()[0])
    finally:
        reopened.close()


def test_a_bad_range_names_the_good_ones() -> None:
    assert history_range("24h").seconds == 86400
    with pytest.raises(ValueError, match="use one of 1h, 24h, 7d"):
        history_range("2d")


async def test_a_closed_or_unopenable_store_says_so(tmp_path: Path) -> None:
    closed = HistoryStore(tmp_path / "history.db")
    with pytest.raises(StoreError, match="not open"):
        await closed.record(T0, [point()])
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the history"):
        HistoryStore(tmp_path / "dir.db").open()


async def test_a_damaged_file_is_moved_aside_and_a_new_history_started(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"this is not an SQLite database, not even close" * 100)
    store = HistoryStore(path)
    store.open()
    try:
        await store.record(T0, [point(idle=1)])
        assert len(await store.series("entry", "E", RANGES["1h"], T0)) == 1
    finally:
        store.close()
    assert (tmp_path / "history.db.damaged").read_bytes().startswith(b"this is not")


async def test_a_history_that_cannot_open_does_not_stop_the_daemon(tmp_path: Path) -> None:
    import anyio

    (tmp_path / "dir.db").mkdir()
    store = HistoryStore(tmp_path / "dir.db")
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        assert not store.available
        assert await store.series("entry", "E", RANGES["1h"], T0) == []
        assert await store.exit_totals("entry", T0) == {}
        with pytest.raises(StoreError, match="not open"):
            await store.record(T0, [point()])
        await store.stop()
