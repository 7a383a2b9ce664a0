"""`GET /api/v1/glideins`: the glidein list, like `condor_q` for glideins.

One list in two parts, walked with `next_cursor`: first every glidein of the roster (on
the factory schedd's queue, or ended within the roster's memory) by factory job id, with
what the store knows of its logs; then the glideins known only from their logs (ended
longer ago, or started by hand), in the order they first posted. A cursor `r:C.P@SCHEDD`
continues the roster after job C.P of factory schedd SCHEDD (the roster is ordered by
schedd, then job id); a cursor `r:C.P` of a version before several schedds continues on
the first schedd of the roster; a number continues the store's list (the cursors the
endpoint always gave). Filters can make a page shorter than `limit`: follow
`next_cursor` until it is null.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from aglidein.services.glidein_logs.query import BadQuery, format_ts, glidein_json, int_param
from aglidein.services.roster import LOG_STATES, STATES, GlideinRoster, RosterGlidein
from aglidein.store.api import GlideinDetail, GlideinSummary, LogStore

__all__ = ["LOG_STATES", "STATES", "GlideinFilter", "glidein_page", "parse_glidein_query"]

NO_LOGS = "none"  # `state` of a glidein that never posted a record
_ROSTER_CURSOR = re.compile(r"r:(\d{1,18})\.(\d{1,9})(?:@([\w.@:-]{1,255}))?\Z")
_LAST_RECORD_KEYS = ("ts", "level", "event", "msg")


@dataclass(frozen=True)
class GlideinFilter:
    """Which glideins a list asks for."""

    entry: str | None = None
    state: str | None = None  # a job state or a log state
    group: str | None = None


@dataclass(frozen=True)
class GlideinQuery:
    """A parsed `GET /api/v1/glideins`."""

    where: GlideinFilter
    limit: int
    cursor: str | None


def parse_glidein_query(params: QueryParams) -> GlideinQuery:
    """The query, or BadQuery naming the parameter that cannot be used."""
    limit = int_param(params, "limit", 1000, 1, 100_000)
    cursor = params.get("cursor") or None
    if cursor is not None and not (_store_cursor(cursor) or _ROSTER_CURSOR.match(cursor)):
        raise BadQuery("cursor must come from next_cursor")
    state = params.get("state") or None
    if state is not None and state not in STATES:
        raise BadQuery(f"state must be one of {', '.join(STATES)}")
    where = GlideinFilter(
        entry=params.get("entry") or None, state=state, group=params.get("group") or None
    )
    return GlideinQuery(where, limit, cursor)


def _store_cursor(cursor: str) -> bool:
    return cursor.isascii() and cursor.isdigit() and len(cursor) <= 19 and int(cursor) < 1 << 63


async def glidein_page(
    roster: GlideinRoster, store: LogStore, query: GlideinQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the list and the cursor of the next (None at the end)."""
    where, cursor = query.where, query.cursor
    rows: list[dict[str, Any]] = []
    if cursor is None or cursor.startswith("r:"):
        known = roster.glideins()
        after = ("", -1, -1)
        if cursor is not None and (match := _ROSTER_CURSOR.match(cursor)):
            first = known[0].schedd if known else ""
            after = (match[3] or first, int(match[1]), int(match[2]))
        listed = [
            g
            for g in known
            if g.order > after and where.entry in (None, g.entry) and where.group in (None, g.group)
        ]
        if where.state in LOG_STATES:  # the logs may say so: ask the store about every one
            details = await store.glidein_details([g.glidein for g in listed])
            matching = [g for g in listed if _state_matches(g, details, where.state)]
        else:  # the queue alone decides: ask the store about this page only
            matching = [g for g in listed if where.state in (None, g.job_state)]
            details = await store.glidein_details([g.glidein for g in matching[: query.limit]])
        page = matching[: query.limit]
        rows = [roster_glidein_json(g, details.get(g.glidein)) for g in page]
        if len(matching) > query.limit:
            return rows, f"r:{page[-1].job_id}@{page[-1].schedd}"
        cursor = "0"  # the roster is done: the glideins known only from their logs follow
    remaining = query.limit - len(rows)
    if remaining == 0:
        return rows, cursor
    store_page = await store.glideins(entry=where.entry, limit=remaining, cursor=cursor)
    alone = [s for s in store_page.glideins if roster.get(s.glidein) is None]
    alone = [s for s in alone if _log_matches(s, where)]
    details = await store.glidein_details([s.glidein for s in alone])
    for summary in alone:
        detail = details.get(summary.glidein)
        rows.append(
            roster_glidein_json(None, detail or GlideinDetail(summary, None), summary=summary)
        )
    return rows, store_page.next_cursor


def _state_matches(
    glidein: RosterGlidein, details: dict[str, GlideinDetail], state: str | None
) -> bool:
    if state is None or glidein.job_state == state:
        return True
    detail = details.get(glidein.glidein)
    return detail is not None and detail.summary.state == state


def _log_matches(summary: GlideinSummary, where: GlideinFilter) -> bool:
    if where.group is not None:
        return False  # the logs do not say which group a glidein served
    return where.state is None or summary.state == where.state


def roster_glidein_json(
    glidein: RosterGlidein | None,
    detail: GlideinDetail | None,
    *,
    summary: GlideinSummary | None = None,
) -> dict[str, Any]:
    """One row of the list: the log fields the viewer reads, then the queue's."""
    summary = detail.summary if detail is not None else summary
    if summary is None:  # on the queue, never posted
        name, entry = (glidein.glidein, glidein.entry) if glidein is not None else ("", "")
        summary = GlideinSummary(name, entry, NO_LOGS, None, None, 0, None)
    row = glidein_json(summary)
    last = detail.last_record if detail is not None else None
    row["last_record"] = (
        {key: last.get(key) for key in _LAST_RECORD_KEYS} if isinstance(last, dict) else None
    )
    row.update(_queue_fields(glidein))
    return row


def _queue_fields(glidein: RosterGlidein | None) -> dict[str, Any]:
    if glidein is None:
        return dict.fromkeys(QUEUE_FIELDS)
    return {
        "job_id": glidein.job_id,
        "schedd": glidein.schedd or None,
        "grid_job_id": glidein.grid_job_id,
        "group": glidein.group,
        "job_state": glidein.job_state,
        "worker": glidein.worker,
        "queued": format_ts(glidein.queued or None),
        "started": format_ts(glidein.started),
        "ended": format_ts(glidein.ended),
        "hold_reason": glidein.hold_reason,
        "exit_reason": glidein.exit_reason,
        "exit_code": glidein.exit_code,
    }


QUEUE_FIELDS: Sequence[str] = (
    "job_id",
    "schedd",
    "grid_job_id",
    "group",
    "job_state",
    "worker",
    "queued",
    "started",
    "ended",
    "hold_reason",
    "exit_reason",
    "exit_code",
)
