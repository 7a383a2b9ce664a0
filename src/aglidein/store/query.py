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
from aglidein.store.api import (
    MAX_CURSOR_LINE,
    Cursor,
    GlideinDetail,
    GlideinPage,
    GlideinSummary,
    LogPage,
    LogQuery,
)
from aglidein.store.blobs import unpack_lines
from aglidein.store.indexer import LINE_BITS
from aglidein.store.userjobs import UserJob, glidein_jobs, job_filter_sql

__all__ = [
    "fts_query",
    "glidein_details",
    "glidein_user_jobs",
    "list_glideins",
    "query_terms",
    "record_matches",
    "search",
]

SILENT_AFTER_S = 900.0
_TERM_RE = re.compile(r"[^\W_]+\*?")
LINE_END = MAX_CURSOR_LINE
LINE_MASK = (1 << LINE_BITS) - 1


def query_terms(q: str) -> list[str]:
    """The lower-cased terms of a full-text query (a trailing `*` = prefix)."""
    return [t.lower() for t in _TERM_RE.findall(q)]


def record_matches(query: LogQuery, record: dict[str, Any], terms: list[str]) -> bool:
    """Whether one record (as `search` returns it) passes the filters of `query`; `terms`
    are `query_terms(query.q)`, matched on msg as the full-text index would."""
    if query.glidein is not None and record.get("glidein") != query.glidein:
        return False
    if query.entry is not None and record.get("entry") != query.entry:
        return False
    if query.levels and record.get("level") not in query.levels:
        return False
    if query.event is not None and record.get("event") != query.event:
        return False
    if query.since is not None or query.until is not None:
        ts = parse_ts(record["ts"])
        if query.since is not None and ts < query.since:
            return False
        if query.until is not None and ts > query.until:
            return False
    if terms:
        words = {w.rstrip("*") for w in query_terms(str(record.get("msg", "")))}
        for term in terms:
            if term.endswith("*"):
                if not any(w.startswith(term[:-1]) for w in words):
                    return False
            elif term not in words:
                return False
    return True


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term must appear (quoted, so no syntax leaks)."""
    parts = []
    for term in terms:
        if term.endswith("*"):
            parts.append(f'"{term[:-1]}"*')
        else:
            parts.append(f'"{term}"')
    return " AND ".join(parts)


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
    where, params = _batch_filters(query)
    terms = query_terms(query.q) if query.q else []
    if terms:
        # Full text sees only indexed batches: a live tail must not skip past the rest.
        indexed = conn.execute("SELECT value FROM meta WHERE key = 'fts_indexed'").fetchone()
        end = min(end, Cursor(int(indexed[0]), LINE_END))
        rows = _fts_batches(conn, query, terms, where, params)
    else:
        rows = _scan_batches(conn, query, where, params)
    records: list[dict[str, Any]] = []
    cursors: list[Cursor] = []
    for position, record in _matching(rows, query):
        records.append(record)
        cursors.append(position)
        if len(records) >= query.limit:
            break
    next_cursor = cursors[-1] if len(records) >= query.limit else None
    return LogPage(records, cursors, next_cursor, end, index_lag_s)


def _batch_filters(query: LogQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.glidein is not None:
        where.append("b.glidein_id = (SELECT id FROM glideins WHERE name = ?)")
        params.append(query.glidein)
    if query.job is not None:
        sql, job_params = job_filter_sql(query.job)
        where.append(sql)
        params.extend(job_params)
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
    return where, params


_BATCH_SELECT = (
    "SELECT b.id, g.name, g.entry, d.lines FROM batches b"
    " JOIN glideins g ON g.id = b.glidein_id JOIN batch_data d ON d.id = b.id"
)


def _scan_batches(
    conn: sqlite3.Connection, query: LogQuery, where: list[str], params: list[Any]
) -> Iterator[tuple[int, str, str, bytes, list[int] | None]]:
    """Batches matching the metadata filters, in order; every line is a candidate."""
    if query.cursor is not None:
        where = [*where, "b.id <= ?" if query.descending else "b.id >= ?"]
        params = [*params, query.cursor.batch]
    order = "DESC" if query.descending else "ASC"
    sql = f"{_BATCH_SELECT} WHERE {' AND '.join(where) or '1'} ORDER BY b.id {order}"
    for batch_id, glidein, entry, data in conn.execute(sql, params):
        yield batch_id, glidein, entry, data, None


def _fts_batches(
    conn: sqlite3.Connection,
    query: LogQuery,
    terms: list[str],
    where: list[str],
    params: list[Any],
) -> Iterator[tuple[int, str, str, bytes, list[int] | None]]:
    """Batches holding records whose msg matches, with just those lines, in order."""
    sql = "SELECT rowid FROM batch_fts WHERE batch_fts MATCH ?"
    fts_params: list[Any] = [fts_query(terms)]
    if query.cursor is not None:
        line = min(query.cursor.line, LINE_MASK)
        sql += " AND rowid < ?" if query.descending else " AND rowid > ?"
        fts_params.append((query.cursor.batch << LINE_BITS) | line)
    sql += " ORDER BY rowid DESC" if query.descending else " ORDER BY rowid"
    batch_sql = f"{_BATCH_SELECT} WHERE {' AND '.join(['b.id = ?', *where])}"
    current = -1
    lines: list[int] = []
    hits = conn.execute(sql, fts_params)
    while True:
        chunk = hits.fetchmany(1000)
        for (rowid,) in chunk:
            batch_id = rowid >> LINE_BITS
            if batch_id != current:
                if lines:
                    yield from _fetch(conn, batch_sql, current, params, lines)
                current, lines = batch_id, []
            lines.append(rowid & LINE_MASK)
        if not chunk:
            break
    if lines:
        yield from _fetch(conn, batch_sql, current, params, lines)


def _fetch(
    conn: sqlite3.Connection, sql: str, batch_id: int, params: list[Any], lines: list[int]
) -> Iterator[tuple[int, str, str, bytes, list[int] | None]]:
    row = conn.execute(sql, [batch_id, *params]).fetchone()
    if row is not None:
        yield row[0], row[1], row[2], row[3], lines


def _matching(
    rows: Iterator[tuple[int, str, str, bytes, list[int] | None]], query: LogQuery
) -> Iterator[tuple[Cursor, dict[str, Any]]]:
    cursor = query.cursor
    levels = query.levels
    for batch_id, glidein, entry, data, wanted in rows:
        lines = unpack_lines(data).split(b"\n")
        indexes: Any = wanted if wanted is not None else range(len(lines))
        if query.descending and wanted is None:
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
            out = {"glidein": glidein, "entry": entry, **record}
            out["glidein"], out["entry"] = glidein, entry  # the token's identity always wins
            yield Cursor(batch_id, i), out


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
        state = _log_state(bool(ended), now - received)
        out.append(GlideinSummary(name, g_entry, state, first_ts, last_ts, count, last_error))
    next_cursor = str(rows[-1][0]) if len(rows) >= limit else None
    return GlideinPage(out, next_cursor)


def glidein_details(
    conn: sqlite3.Connection, names: list[str], now: float
) -> dict[str, GlideinDetail]:
    """The summary and the last record received of each of these glideins that posted."""
    out: dict[str, GlideinDetail] = {}
    for start in range(0, len(names), 500):  # under SQLite's bound-parameter limit
        chunk = names[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT g.name, g.entry, g.first_ts, g.last_ts, g.last_received, g.record_count,"
            " g.last_error, g.ended, (SELECT d.lines FROM batches b JOIN batch_data d"
            " ON d.id = b.id WHERE b.glidein_id = g.id ORDER BY b.id DESC LIMIT 1)"
            f" FROM glideins g WHERE g.name IN ({marks})",
            chunk,
        ).fetchall()
        for name, entry, first_ts, last_ts, received, count, last_error, ended, data in rows:
            summary = GlideinSummary(
                name,
                entry,
                _log_state(bool(ended), now - received),
                first_ts,
                last_ts,
                count,
                last_error,
            )
            last: dict[str, Any] | None = None
            if data:
                lines = [line for line in unpack_lines(data).split(b"\n") if line.strip()]
                if lines:
                    last = orjson.loads(lines[-1])
            out[name] = GlideinDetail(summary, last)
    return out


def _log_state(ended: bool, quiet_s: float) -> str:
    if ended:
        return "ended"
    return "silent" if quiet_s > SILENT_AFTER_S else "active"


def glidein_user_jobs(conn: sqlite3.Connection, name: str) -> list[UserJob] | None:
    """The user jobs a glidein's records name; None when it never posted."""
    row = conn.execute("SELECT id FROM glideins WHERE name = ?", (name,)).fetchone()
    return None if row is None else glidein_jobs(conn, int(row[0]))
