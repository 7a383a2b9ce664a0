"""aglidein.services.glidein_logs.query: the log API's query parameters; bad ones raise BadQuery."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from aglidein.services.glidein_logs.query import (
    GLIDEINS_PARAMETERS,
    LOG_PARAMETERS,
    MAX_LIMIT,
    STREAM_PARAMETERS,
    BadQuery,
    format_ts,
    glidein_json,
    int_param,
    parse_log_query,
    parse_time,
)
from aglidein.store.api import Cursor, GlideinSummary, LogQuery
from aglidein.store.userjobs import JobRef

NOW = 1_800_000_000.0


def test_format_ts_is_rfc3339_utc_with_milliseconds() -> None:
    assert format_ts(None) is None
    assert format_ts(NOW + 0.25) == "2027-01-15T08:00:00.250Z"


def test_parse_time_forms() -> None:
    assert parse_time("1700000000", NOW) == 1_700_000_000.0
    assert parse_time(" 1700000000.5 ", NOW) == 1_700_000_000.5
    assert parse_time("2027-01-15T08:00:00Z", NOW) == NOW
    assert parse_time("15m", NOW) == NOW - 900
    for bad in ("yesterday", "-5", "2027-13-45T00:00:00Z"):
        with pytest.raises(BadQuery, match="is not a time"):
            parse_time(bad, NOW)


def test_int_param_default_bounds_and_errors() -> None:
    params = QueryParams("a=5&b=&c=x&d=0&e=11")
    assert int_param(params, "a", 1, 1, 10) == 5
    assert int_param(params, "b", 7, 1, 10) == 7
    assert int_param(params, "missing", 7, 1, 10) == 7
    with pytest.raises(BadQuery, match="c must be an integer"):
        int_param(params, "c", 1, 1, 10)
    for name in ("d", "e"):
        with pytest.raises(BadQuery, match=f"{name} must be in 1..10"):
            int_param(params, name, 1, 1, 10)


def test_parse_log_query_defaults() -> None:
    assert parse_log_query(QueryParams(""), NOW) == LogQuery()


def test_parse_log_query_every_filter() -> None:
    params = QueryParams(
        "glidein=g1&entry=CE_A&level=ERROR,%20warning&level=info&event=job.end&q=oom*"
        "&since=1h&until=1800000000&limit=50&cursor=12.3&order=desc&job=1234.0@submit"
    )
    query = parse_log_query(params, NOW)
    assert query == LogQuery(
        glidein="g1",
        job=JobRef(1234, 0, "submit"),
        entry="CE_A",
        levels=frozenset({"error", "warning", "info"}),
        event="job.end",
        q="oom*",
        since=NOW - 3600,
        until=NOW,
        limit=50,
        cursor=Cursor(12, 3),
        descending=True,
    )


def test_a_stream_is_ascending_with_its_own_page_and_no_job() -> None:
    query = parse_log_query(QueryParams("order=desc&limit=3&entry=E"), NOW, stream=True)
    assert (query.descending, query.limit, query.entry) == (False, 500, "E")
    with pytest.raises(BadQuery, match="not a live-tail filter"):
        parse_log_query(QueryParams("job=1234"), NOW, stream=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("level=loud", "level 'loud'"),
        ("cursor=abc", "bad cursor"),
        ("cursor=1.2.3", "bad cursor"),
        ("order=sideways", "order must be asc or desc"),
        ("job=x.y", "use Cluster.Proc@schedd"),
        ("since=soon", "is not a time"),
        ("limit=0", "limit must be in"),
        (f"limit={MAX_LIMIT + 1}", "limit must be in"),
        ("q=" + "a" * 1001, "too long or holds NUL"),
        ("glidein=a%00b", "too long or holds NUL"),
    ],
)
def test_bad_queries(query: str, message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        parse_log_query(QueryParams(query), NOW)


def test_empty_values_mean_no_filter() -> None:
    assert parse_log_query(QueryParams("glidein=&since=&level=,&cursor="), NOW) == LogQuery()


def test_glidein_json() -> None:
    summary = GlideinSummary("g1", "CE_A", "ended", NOW, None, 3, "boom")
    assert glidein_json(summary) == {
        "glidein": "g1",
        "entry": "CE_A",
        "state": "ended",
        "first_ts": "2027-01-15T08:00:00.000Z",
        "last_ts": None,
        "record_count": 3,
        "last_error": "boom",
    }


def test_openapi_parameters_are_query_and_optional() -> None:
    names = [p["name"] for p in LOG_PARAMETERS]
    assert len(names) == len(set(names))
    assert {"job", "limit", "order", "cursor", "level", "since"} <= set(names)
    stream = {p["name"] for p in STREAM_PARAMETERS}
    assert "job" not in stream
    assert "limit" not in stream
    assert "cursor" in stream
    for param in (*LOG_PARAMETERS, *STREAM_PARAMETERS, *GLIDEINS_PARAMETERS):
        assert param["in"] == "query"
        assert param["required"] is False
