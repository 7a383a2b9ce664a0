"""Reading the log store: filters as the full-text index applies them, glidein pages and
their log state (active, silent, ended)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from aglidein.store.api import Cursor, LogQuery
from aglidein.store.query import (
    LINE_END,
    SILENT_AFTER_S,
    fts_query,
    glidein_details,
    list_glideins,
    query_terms,
    record_matches,
    search,
)
from aglidein.store.schema import migrate

RECORD = {
    "glidein": "g1",
    "entry": "CE_A",
    "level": "error",
    "event": "validate.failed",
    "ts": "2026-01-01T00:00:10Z",
    "msg": "disk check failed on scratch",
}
TS = 1767225610.0


def test_query_terms_and_their_fts_expression_leak_no_syntax() -> None:
    terms = query_terms('Disk "OR" fail* -x')
    assert terms == ["disk", "or", "fail*", "x"]
    assert fts_query(terms) == '"disk" AND "or" AND "fail"* AND "x"'


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        (LogQuery(), True),
        (LogQuery(glidein="g2"), False),
        (LogQuery(entry="CE_A", levels=frozenset({"error", "warning"})), True),
        (LogQuery(levels=frozenset({"info"})), False),
        (LogQuery(event="validate.failed"), True),
        (LogQuery(since=TS, until=TS), True),
        (LogQuery(since=TS + 1), False),
        (LogQuery(until=TS - 1), False),
        (LogQuery(q="scratch disk"), True),
        (LogQuery(q="scr*"), True),
        (LogQuery(q="scratchy"), False),
    ],
)
def test_a_record_passes_the_filters_of_a_query(query: LogQuery, matches: bool) -> None:
    terms = query_terms(query.q) if query.q else []
    assert record_matches(query, RECORD, terms) is matches


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
    migrate(db, "logs.db")
    rows = [
        (1, "g1", "CE_A", 0.0, 10.0, 1000.0, 3, None, 0),
        (2, "g2", "CE_B", 0.0, 10.0, 1000.0 - SILENT_AFTER_S - 1, 1, "boom", 0),
        (3, "g3", "CE_A", 0.0, 10.0, 0.0, 5, None, 1),
    ]
    db.executemany(
        "INSERT INTO glideins (id, name, entry, first_ts, last_ts, last_received,"
        " record_count, last_error, ended) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.execute(
        "INSERT INTO batches VALUES (1, 1, 1000.0, 0.0, 10.0, 1, 'a.b', 2, 10)",
    )
    lines = b"\n".join(orjson.dumps({"seq": s, "msg": f"m{s}"}) for s in (1, 2))
    db.execute("INSERT INTO batch_data VALUES (1, ?)", (lines,))
    return db


def test_glideins_page_in_arrival_order_with_their_log_state(conn: sqlite3.Connection) -> None:
    first = list_glideins(conn, entry=None, limit=2, cursor=None, now=1000.0)
    assert [(g.glidein, g.state) for g in first.glideins] == [("g1", "active"), ("g2", "silent")]
    rest = list_glideins(conn, entry=None, limit=2, cursor=first.next_cursor, now=1000.0)
    assert [(g.glidein, g.state) for g in rest.glideins] == [("g3", "ended")]
    assert rest.next_cursor is None
    only_a = list_glideins(conn, entry="CE_A", limit=10, cursor=None, now=1000.0)
    assert [g.glidein for g in only_a.glideins] == ["g1", "g3"]


def test_glidein_details_carry_the_last_record_received(conn: sqlite3.Connection) -> None:
    details = glidein_details(conn, ["g1", "g3", "unknown"], now=1000.0)
    assert set(details) == {"g1", "g3"}
    assert details["g1"].last_record == {"seq": 2, "msg": "m2"}
    assert details["g3"].last_record is None
    assert details["g3"].summary.record_count == 5


def test_a_full_text_search_ends_where_the_index_does(conn: sqlite3.Connection) -> None:
    page = search(conn, LogQuery(q="m1"), index_lag_s=0.5)
    assert page.records == []
    assert page.end_cursor == Cursor(0, LINE_END)  # nothing indexed yet
    assert page.index_lag_s == 0.5
    assert search(conn, LogQuery(), index_lag_s=0.0).end_cursor == Cursor(1, LINE_END)


def test_a_scan_returns_records_with_the_glidein_identity(conn: sqlite3.Connection) -> None:
    page = search(conn, LogQuery(limit=1), index_lag_s=0.0)
    assert [(r["glidein"], r["entry"], r["msg"]) for r in page.records] == [("g1", "CE_A", "m1")]
    assert page.next_cursor == Cursor(1, 0)
    rest = search(conn, LogQuery(cursor=page.next_cursor), index_lag_s=0.0)
    assert [r["msg"] for r in rest.records] == ["m2"]
    assert rest.next_cursor is None
