"""The store's user-job index: job.start / job.end records tie user jobs to glideins,
searches by job find the glidein's records, usage reaches the accounting once."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from aglidein.config import LogsConfig
from aglidein.core.records import ParsedBatch, parse_batch
from aglidein.store import schema
from aglidein.store.api import GlideinUsage, LogQuery
from aglidein.store.userjobs import JobRef, parse_job_ref
from tests.services.glidein_logs.helpers import eventually
from tests.store.test_sqlite import TS0, batch, open_store


def records(*items: dict[str, Any]) -> ParsedBatch:
    lines = [orjson.dumps({"level": "info", "ts": "2026-01-01T01:00:00Z", **r}) for r in items]
    return parse_batch(b"\n".join(lines), max_fields=64, max_bytes=16384)


def job_end(seq: int, job: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "event": "job.end",
        "job": job,
        "owner": "alice",
        "start_time": start,
        "end_time": end,
        "exit_code": 0,
        **extra,
    }


def glidein_end(seq: int, duration: int, reason: str = "ok") -> dict[str, Any]:
    return {
        "seq": seq,
        "event": "glidein.end",
        "ts": "2026-01-01T01:00:00Z",
        "exit_code": 0,
        "reason": reason,
        "duration_s": duration,
    }


def test_job_refs_parse_and_bad_ones_name_the_forms() -> None:
    assert parse_job_ref("1234.0@submit.example.org") == JobRef(1234, 0, "submit.example.org")
    assert parse_job_ref("1234.5") == JobRef(1234, 5, None)
    assert parse_job_ref(" 1234 ") == JobRef(1234, None, None)
    for bad in ("", "abc", "1.2.3", "12.x@s", "1234.0@"):
        with pytest.raises(ValueError, match=r"Cluster\.Proc@schedd"):
            parse_job_ref(bad)


async def test_search_by_job_finds_the_glidein_that_ran_it(tmp_path: Path) -> None:
    end_ts = TS0 + 3600
    async with open_store(tmp_path) as store:
        await store.ingest("g1", "E", batch([0, 1]))
        await store.ingest(
            "g1",
            "E",
            records(
                {"seq": 2, "event": "job.start", "job": "1234.0@vo", "owner": "alice",
                 "start_time": end_ts - 100},
                job_end(3, "1234.0@vo", end_ts - 100, end_ts - 40),
            ),
        )  # fmt: skip
        await store.ingest("g2", "E", records(job_end(0, "1234.1@vo", end_ts - 50, end_ts)))
        await store.ingest("g3", "E", records(job_end(0, "1234.0@other", end_ts - 50, end_ts)))
        await store.ingest("g4", "E", batch([0]))

        async def glideins(ref: str) -> set[str]:
            page = await store.search(LogQuery(job=parse_job_ref(ref), limit=1000))
            return {r["glidein"] for r in page.records}

        assert await glideins("1234.0@vo") == {"g1"}
        assert await glideins("1234.0") == {"g1", "g3"}
        assert await glideins("1234") == {"g1", "g2", "g3"}
        assert await glideins("1234.1@vo") == {"g2"}
        assert await glideins("99.0") == set()
        # all of the glidein's records, not only the job ones
        page = await store.search(LogQuery(job=parse_job_ref("1234.0@vo"), limit=1000))
        assert [r["seq"] for r in page.records] == [0, 1, 2, 3]

        jobs = await store.user_jobs("g1")
        assert jobs is not None
        assert len(jobs) == 1
        (only,) = jobs
        assert (only.job, only.owner, only.exit_code) == ("1234.0@vo", "alice", 0)
        assert (only.start, only.end) == (end_ts - 100, end_ts - 40)
        assert await store.user_jobs("g4") == []
        assert await store.user_jobs("never-posted") is None


async def test_usage_is_reported_once_with_badput_from_the_job_intervals(tmp_path: Path) -> None:
    seen: list[GlideinUsage] = []
    end_ts = TS0 + 3600
    async with open_store(tmp_path, on_usage=seen.extend) as store:
        # two overlapping jobs (one busy period of 300 s) and a later one of 100 s
        jobs = records(
            job_end(0, "1.0@vo", end_ts - 900, end_ts - 700),
            job_end(1, "1.1@vo", end_ts - 800, end_ts - 600),
            job_end(2, "2.0@vo", end_ts - 300, end_ts - 200),
        )
        await store.ingest("g1", "E", jobs)
        await store.ingest("g1", "E", jobs)  # a retry: duplicates count nothing
        await store.ingest("g1", "E", records(glidein_end(3, 1000)))
        await store.ingest("g2", "E", records(glidein_end(0, 60, "validation_failed")))
        await store.ingest("g2", "E", records(glidein_end(0, 60, "validation_failed")))
        await eventually(lambda: len(seen) >= 3)
        await anyio.sleep(0.1)  # nothing more arrives
    assert len(seen) == 3
    first, end, failed = seen
    assert (first.glidein, first.job_seconds, first.ended) == ("g1", 500.0, False)
    assert (end.glidein_seconds, end.busy_seconds, end.ended) == (1000.0, 400.0, True)
    assert (failed.glidein, failed.validation_failed, failed.glidein_seconds) == ("g2", True, 60)


async def test_an_old_store_opens_and_gains_the_job_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    async with open_store(tmp_path) as store:
        await store.ingest("old", "E", batch([0, 1, 2]))
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    monkeypatch.undo()
    async with open_store(tmp_path) as store:
        assert [r["seq"] for r in (await store.search(LogQuery(glidein="old"))).records] == [
            0,
            1,
            2,
        ]
        await store.ingest("new", "E", records(job_end(0, "5.0@vo", TS0, TS0 + 10)))
        page = await store.search(LogQuery(job=parse_job_ref("5.0@vo")))
        assert {r["glidein"] for r in page.records} == {"new"}
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 2


async def test_retention_forgets_the_jobs_of_deleted_glideins(tmp_path: Path) -> None:
    clock = {"now": TS0}
    settings = LogsConfig(retention=3600, max_bytes=10**12)
    async with open_store(tmp_path, settings, now=lambda: clock["now"]) as store:
        await store.ingest("old", "E", records(job_end(0, "7.0@vo", TS0, TS0 + 10)))
        clock["now"] += 7200
        await store.ingest("new", "E", records(job_end(0, "7.1@vo", TS0, TS0 + 10)))
        await store.maintain()
        page = await store.search(LogQuery(job=parse_job_ref("7")))
        assert {r["glidein"] for r in page.records} == {"new"}
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert conn.execute("SELECT job FROM user_jobs").fetchall() == [("7.1@vo",)]
