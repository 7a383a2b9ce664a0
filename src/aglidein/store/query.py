"""Reads of the SQLite log store: search and the glidein list (on reader threads).

Batches are selected by their metadata (glidein, time span, level bits, events, the
full-text index), then their records are decoded and filtered one by one.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from aglidein.core.records import LEVEL_BITS, parse_ts
from aglidein.store.api import Cursor, GlideinPage, GlideinSummary, LogPage, LogQuery

__all__ = ["fts_query", "list_glideins", "query_terms", "search"]

SILENT_AFTER_S = 900.0
_TERM_RE = re.compile(r"[^\W_]+\*?")
_WORD_RE = re.compile(r"[^\W_]+")
LINE_END = 1 << 31


def query_terms(q: str) -> list[str]:
    """The lower-cased terms of a full-text query (a trailing `*` = prefix)."""
    return [t.lower() for t in _TERM_RE.findall(q)]


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term must appear (quoted, so no syntax leaks)."""
    parts = []
    for term in terms:
        if term.endswith("*"):
            parts.append(f'"{term[:-1]}"*')
        else:
            parts.append(f'"{term}"')
    return " AND ".join(parts)


def _msg_matches(msg: str, terms: list[str]) -> bool:
    words = set(_WORD_RE.findall(msg.lower()))
    for term in terms:
        if term.endswith("*"):
            stem = term[:-1]
            if not any(w.startswith(stem) for w in words):
                return False
        elif term not in words:
            return False
    return True


def search(conn: sqlite3.Connection, query: LogQuery, index_lag_s: float) -> LogPage:
    """One page of records matching `query`, read in one transaction."""
    conn.execute("BEGIN")
    try:
        return _search(conn, query, index_lag_s)
    finally:
        conn.execute("COMMIT")


def _search(conn: sqlite3.Connection, query: LogQuery, index_lag_s: float) -> LogPage:
    top = conn.execute("SELECT max(id) FROM batches").fetchone()[0] or 0
    end = Cursor(top, LINE_END)
    where: list[str] = []
    params: list[Any] = []
    if query.glidein is not None:
        where.append("b.glidein_id = (SELECT id FROM glideins WHERE name = ?)")
        params.append(query.glidein)
    if query.entry is not None:
        where.append("g.entry = ?")
        params.append(query.entry)
    if query.levels:
        mask = 0
        for name in query.levels:
            mask |= LEVEL_BITS[name]
        where.append("(b.levels & ?) != 0")
        params.append(mask)
    if query.event is not None:
        where.append("instr(b.events, ?) > 0")
        params.append(f" {query.event} ")
    if query.since is not None:
        where.append("b.max_ts >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("b.min_ts <= ?")
        params.append(query.until)
    terms = query_terms(query.q) if query.q else []
    if terms:
        where.append("b.id IN (SELECT rowid FROM batch_fts WHERE batch_fts MATCH ?)")
        params.append(fts_query(terms))
    cursor = query.cursor
    if cursor is not None:
        where.append("b.id <= ?" if query.descending else "b.id >= ?")
        params.append(cursor.batch)
    order = "DESC" if query.descending else "ASC"
    sql = (
        "SELECT b.id, g.name, g.entry, d.lines FROM batches b"
        " JOIN glideins g ON g.id = b.glidein_id JOIN batch_data d ON d.id = b.id"
        f" WHERE {' AND '.join(where) or '1'} ORDER BY b.id {order}"
    )
    records: list[dict[str, Any]] = []
    cursors: list[Cursor] = []
    for position, record in _matching(conn.execute(sql, params), query, terms):
        records.append(record)
        cursors.append(position)
        if len(records) >= query.limit:
            break
    next_cursor = cursors[-1] if len(records) >= query.limit else None
    return LogPage(records, cursors, next_cursor, end, index_lag_s)


def _matching(
    rows: sqlite3.Cursor, query: LogQuery, terms: list[str]
) -> Iterator[tuple[Cursor, dict[str, Any]]]:
    cursor = query.cursor
    levels = query.levels
    for batch_id, glidein, entry, data in rows:
        lines = data.split(b"\n")
        indexes: Any = range(len(lines))
        if query.descending:
            indexes = reversed(indexes)
        for i in indexes:
            if (
                cursor is not None
                and batch_id == cursor.batch
                and ((i >= cursor.line) if query.descending else (i <= cursor.line))
            ):
                continue
            record = orjson.loads(lines[i])
            if levels and record.get("level") not in levels:
                continue
            if query.event is not None and record.get("event") != query.event:
                continue
            if query.since is not None or query.until is not None:
                ts = parse_ts(record["ts"])
                if query.since is not None and ts < query.since:
                    continue
                if query.until is not None and ts > query.until:
                    continue
            if terms and not _msg_matches(str(record.get("msg", "")), terms):
                continue
            yield Cursor(batch_id, i), {"glidein": glidein, "entry": entry, **record}


def list_glideins(
    conn: sqlite3.Connection, *, entry: str | None, limit: int, cursor: str | None, now: float
) -> GlideinPage:
    """Glideins in the order they first posted, `limit` at a time."""
    after = int(cursor) if cursor else 0
    sql = (
        "SELECT id, name, entry, first_ts, last_ts, last_received, record_count, last_error,"
        " ended FROM glideins WHERE id > ?"
    )
    params: list[Any] = [after]
    if entry is not None:
        sql += " AND entry = ?"
        params.append(entry)
    sql += " ORDER BY id LIMIT ?"
    params.append(limit)
    rows = conn.execute(sql, params).fetchall()
    out = []
    for _, name, g_entry, first_ts, last_ts, received, count, last_error, ended in rows:
        if ended:
            state = "ended"
        elif now - received > SILENT_AFTER_S:
            state = "silent"
        else:
            state = "active"
        out.append(GlideinSummary(name, g_entry, state, first_ts, last_ts, count, last_error))
    next_cursor = str(rows[-1][0]) if len(rows) >= limit else None
    return GlideinPage(out, next_cursor)
