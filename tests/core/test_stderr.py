"""A silent glidein's stderr as log records (DESIGN §6)."""

from __future__ import annotations

import orjson

from aglidein.core.records import LEVELS
from aglidein.core.stderr import STDERR_EVENT, STDERR_SEQ_BASE, stderr_batch

TS = 1_767_225_600.0


def records(batch: object) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in batch.lines]  # type: ignore[attr-defined]


def test_one_record_per_line_with_high_seqs_and_levels_from_the_text() -> None:
    tail = b"starting up\n\nERROR: cannot mount /cvmfs/oasis\r\nbye\n"
    batch = stderr_batch(tail, ts=TS, truncated=False, max_fields=64, max_bytes=16384)
    assert batch.errors == []
    rows = records(batch)
    assert [r["msg"] for r in rows] == ["starting up", "ERROR: cannot mount /cvmfs/oasis", "bye"]
    assert [LEVELS[level] for level in batch.levels] == ["warning", "error", "warning"]
    assert {r["event"] for r in rows} == {STDERR_EVENT}
    assert batch.seqs == [STDERR_SEQ_BASE, STDERR_SEQ_BASE + 1, STDERR_SEQ_BASE + 2]
    assert batch.increasing
    assert batch.ts == [TS, TS, TS]
    assert rows[0]["ts"] == "2026-01-01T00:00:00.000000Z"


def test_an_empty_stderr_still_says_the_glidein_ended_silently() -> None:
    batch = stderr_batch(b"  \n", ts=TS, truncated=False, max_fields=64, max_bytes=16384)
    (row,) = records(batch)
    assert "without posting any record" in str(row["msg"])
    assert LEVELS[batch.levels[0]] == "error"


def test_long_lines_are_cut_to_the_record_limit_and_a_cut_tail_is_marked() -> None:
    tail = ("x" * 5000 + "\n" + "é" * 3000 + "\n").encode()
    batch = stderr_batch(tail, ts=TS, truncated=True, max_fields=64, max_bytes=1024)
    assert batch.errors == []
    assert all(len(line) <= 1024 for line in batch.lines)
    first, second = records(batch)
    assert str(first["msg"]).startswith("…xxx")
    assert str(first["msg"]).endswith("…")
    assert str(second["msg"]).startswith("ééé")


def test_invalid_utf8_is_replaced_not_refused() -> None:
    batch = stderr_batch(
        b"bad \xff\xfe bytes\n", ts=TS, truncated=False, max_fields=8, max_bytes=512
    )
    assert batch.errors == []
    assert "bad" in str(records(batch)[0]["msg"])


def test_lines_of_the_pilots_logger_keep_its_level_and_time() -> None:
    tail = (
        b"2026-01-01T00:00:05.123Z INFO glidein.start glidein starting\n"
        b"2026-01-01T00:00:06.000Z DEBUG validate.disk free_mb=100\n"
        b"2026-01-01T00:00:07Z WARNING validate.cvmfs slow mount\n"
        b"2026-01-01T00:00:08.5Z ERROR condor.start failed\n"
        b"2026-01-01T00:00:09.000Z INFO glidein.exit an error word in an info line\n"
        b"mkdir: cannot create directory\n"
        b"plain words\n"
    )
    batch = stderr_batch(tail, ts=TS, truncated=False, max_fields=64, max_bytes=16384)
    assert batch.errors == []
    assert [LEVELS[level] for level in batch.levels] == [
        "info",
        "debug",
        "warning",
        "error",
        "info",
        "error",
        "warning",
    ]
    rows = records(batch)
    assert rows[0]["ts"] == "2026-01-01T00:00:05.123Z"
    assert rows[2]["ts"] == "2026-01-01T00:00:07Z"
    assert rows[5]["ts"] == "2026-01-01T00:00:00.000000Z"  # not the pilot's: the file's time
    assert rows[0]["msg"] == "2026-01-01T00:00:05.123Z INFO glidein.start glidein starting"
