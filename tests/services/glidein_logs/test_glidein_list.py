"""The glidein list's roster part with several factory schedds: job ids repeat across
them, the cursor names the schedd, an old cursor still works, a bad one is refused."""

from __future__ import annotations

from typing import Any, cast

import pytest
from starlette.datastructures import QueryParams

from aglidein.core.model import Glidein, GlideinCensus, GlideinState
from aglidein.services.glidein_logs.glidein_list import glidein_page, parse_glidein_query
from aglidein.services.glidein_logs.query import BadQuery
from aglidein.services.roster import GlideinRoster
from aglidein.store.api import GlideinDetail, GlideinPage, LogStore


class _NoLogs:
    """A log store that knows no glidein."""

    async def glidein_details(self, names: list[str]) -> dict[str, GlideinDetail]:
        return {}

    async def glideins(self, **kwargs: Any) -> GlideinPage:
        return GlideinPage([], None)


_NO_LOGS = cast(LogStore, _NoLogs())


def _roster() -> GlideinRoster:
    glideins = tuple(
        Glidein(
            f"{schedd}-{proc}", "CE", "g", "b", 1, proc, GlideinState.IDLE, 0.0, 0.0, schedd=schedd
        )
        for schedd in ("fs2", "fs1")
        for proc in range(2)
    )
    roster = GlideinRoster()
    roster.observe(GlideinCensus(glideins=glideins), now=1.0)
    return roster


async def _walk(roster: GlideinRoster, cursor: str | None) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        rows, cursor = await glidein_page(
            roster, _NO_LOGS, parse_glidein_query(QueryParams(params))
        )
        seen += [(r["schedd"], r["job_id"]) for r in rows]
        if cursor is None or not cursor.startswith("r:"):
            return seen


async def test_pages_walk_every_schedd_once_though_job_ids_repeat() -> None:
    assert await _walk(_roster(), None) == [
        ("fs1", "1.0"),
        ("fs1", "1.1"),
        ("fs2", "1.0"),
        ("fs2", "1.1"),
    ]


async def test_a_cursor_names_its_schedd_and_an_old_one_continues_on_the_first() -> None:
    roster = _roster()
    _rows, cursor = await glidein_page(
        roster, _NO_LOGS, parse_glidein_query(QueryParams({"limit": "1"}))
    )
    assert cursor == "r:1.0@fs1"
    assert await _walk(roster, "r:1.1@fs1") == [("fs2", "1.0"), ("fs2", "1.1")]
    assert await _walk(roster, "r:1.0") == [("fs1", "1.1"), ("fs2", "1.0"), ("fs2", "1.1")]


def test_a_cursor_with_a_bad_schedd_is_refused() -> None:
    with pytest.raises(BadQuery, match="cursor must come from next_cursor"):
        parse_glidein_query(QueryParams({"cursor": "r:1.0@fs 1/x"}))
