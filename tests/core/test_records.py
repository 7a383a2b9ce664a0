"""Parsing and validating glidein log records (DESIGN §8)."""

from __future__ import annotations

from unittest.mock import patch

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aglidein.core import records
from aglidein.core.records import (
    CORE_KEYS,
    LEVELS,
    RENAMED_KEYS,
    parse_batch,
    parse_ts,
    parse_ts_column,
)


def line(**overrides: object) -> bytes:
    record: dict[str, object] = {
        "seq": 1,
        "ts": "2026-01-01T00:00:00Z",
        "level": "info",
        "event": "validate.cvmfs",
        "msg": "ok",
    }
    record.update(overrides)
    return orjson.dumps({k: v for k, v in record.items() if v is not ...})


def parse(body: bytes, max_fields: int = 64, max_bytes: int = 16384):  # type: ignore[no-untyped-def]
    return parse_batch(body, max_fields=max_fields, max_bytes=max_bytes)


def test_valid_lines_are_kept_with_their_bytes() -> None:
    body = line(seq=5) + b"\n" + line(seq=6, site="FNAL", cores=8, ok=True, load=0.5) + b"\n"
    batch = parse(body)
    assert batch.errors == []
    assert batch.seqs == [5, 6]
    assert batch.lines[1] == line(seq=6, site="FNAL", cores=8, ok=True, load=0.5)
    assert batch.increasing


def test_bad_lines_are_reported_by_number_and_good_ones_kept() -> None:
    body = b"\n".join(
        [
            line(seq=1),
            b"not json",
            line(seq=-1),
            b"",
            line(level="loud"),
            line(ts="2026-01-01 00:00:00"),
            line(event="has space"),
            line(nested={"a": 1}),
            b"[1, 2]",
            line(seq=2),
        ]
    )
    batch = parse(body)
    assert batch.seqs == [1, 2]
    assert [e.line for e in batch.errors] == [2, 3, 5, 6, 7, 8, 9]
    assert "seq" in batch.errors[1].error
    assert "level" in batch.errors[2].error
    assert "nested" in batch.errors[5].error


@pytest.mark.parametrize(
    "ts",
    ["2026-01-01T00:00:00+01:00", "2026-01-01", "2026-02-30T00:00:00Z", "2026-01-01T00:00:00.Z"],
)
def test_timestamps_must_be_rfc3339_utc(ts: str) -> None:
    assert parse(line(ts=ts)).errors


def test_timestamp_values() -> None:
    assert parse_ts("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_ts("2026-01-01T00:00:00.250+00:00") == 1767225600.25
    assert parse_ts("2026-01-01t00:00:01.5z") == 1767225601.5


def test_seq_limits() -> None:
    assert parse(line(seq=2**63 - 1)).seqs == [2**63 - 1]
    assert parse(line(seq=2**63)).errors
    assert parse(line(seq=True)).errors
    assert parse(line(seq=1.0)).errors


def test_glidein_key_is_dropped() -> None:
    batch = parse(line(glidein="someone-else", site="x"))
    assert batch.errors == []
    assert b"glidein" not in batch.lines[0]
    assert orjson.loads(batch.lines[0])["site"] == "x"


def test_field_count_and_record_size_limits() -> None:
    many = {f"f{i}": i for i in range(5)}
    assert parse(line(**many), max_fields=5).errors == []
    assert "record_max_fields" in parse(line(**many), max_fields=4).errors[0].error
    assert "record_max_bytes" in parse(line(msg="x" * 200), max_bytes=100).errors[0].error


def test_msg_is_optional_but_must_be_text() -> None:
    assert parse(line(msg=...)).msgs == [""]
    assert parse(line(msg=3)).errors


def test_out_of_order_batch_is_not_increasing() -> None:
    assert not parse(line(seq=3) + b"\n" + line(seq=2)).increasing


def test_crlf_and_blank_lines() -> None:
    batch = parse(line(seq=1) + b"\r\n\r\n   \n" + line(seq=2) + b"\r\n")
    assert batch.seqs == [1, 2]
    assert batch.line_count == 2


record_values = st.one_of(
    st.text(max_size=20),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_errors_not_exceptions(body: bytes) -> None:
    batch = parse(body)
    lines = [raw for raw in body.split(b"\n") if raw.rstrip(b"\r").strip()]
    assert batch.line_count == len(lines)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "seq": st.integers(0, 2**63 - 1),
                "level": st.sampled_from(LEVELS),
                "event": st.from_regex(
                    r"[a-z_][a-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,8}){0,2}", fullmatch=True
                ),
                "ts": st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(
                    lambda d: d.isoformat().replace("+00:00", "Z")
                ),
            },
            optional={"msg": st.text(max_size=50)},
        ).flatmap(
            lambda core: st.dictionaries(
                st.text(min_size=1, max_size=10).filter(
                    lambda k: k not in CORE_KEYS and k != "glidein" and k not in RENAMED_KEYS
                ),
                record_values,
                max_size=5,
            ).map(lambda extra: {**core, **extra})
        ),
        max_size=20,
    )
)
def test_valid_records_round_trip(records: list[dict[str, object]]) -> None:
    body = b"\n".join(orjson.dumps(r) for r in records)
    batch = parse(body)
    assert batch.errors == []
    assert [orjson.loads(raw) for raw in batch.lines] == records
    assert batch.seqs == [r["seq"] for r in records]


# lines at the edges of what a clean batch is: escapes, odd values, several objects
_ODD_LINES = [
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","x":null}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","x":[1]}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","x":{"y":1}}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","x":"\xff"}',
    '{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","x":"é"}'.encode(),
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","x":"{[null]}"}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","gl\\u0069dein":"g"}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","\\u0065ntry":"E"}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","":1}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","seq":4}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","msg":"a:b:c:d:e:f"}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","a":1,"b":2,"c":3}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","n":123456789012345678901}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","f":1e999}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e"},{"seq":4}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e"} {"seq":4}',
    b'{"seq":3,"ts":"2026-01-01T00:00:00Z","level":"info","event":"e","t":true,"u":-0.5}',
    b'{"seq":3, "ts" : "2026-01-01T00:00:00Z" ,"level":"info","event":"e"}',
]
_perturbations = st.sampled_from(
    [
        {},
        {"seq": -1},
        {"seq": True},
        {"seq": 2**63},
        {"seq": 1.0},
        {"level": "loud"},
        {"level": 1},
        {"ts": "2026-01-01 00:00:00"},
        {"ts": "2026-02-30T00:00:00Z"},
        {"ts": "2026-01-01T00:00:00.5+00:00"},
        {"event": "has space"},
        {"event": 7},
        {"msg": 3},
        {"msg": ...},
        {"nested": {"a": 1}},
        {"glidein": "g"},
        {"entry": "E"},
        {"": 1},
        {"f1": 1, "f2": 2, "f3": 3},
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(0, 50), _perturbations).map(
                lambda t: line(**{"seq": t[0], **t[1]})
            ),
            st.sampled_from([b"", b"\r", b"not json", b"[1]", b" " + line(), line() + b"\r"]),
            st.sampled_from(_ODD_LINES),
        ),
        max_size=12,
    ),
    st.integers(1, 4),
)
def test_whole_batch_check_agrees_with_the_line_by_line_one(
    lines: list[bytes], max_fields: int
) -> None:
    """The column-wise check of clean batches accepts exactly what the line-by-line
    check accepts, with the same columns and bytes."""
    body = b"\n".join(lines)
    with patch.object(records, "_parse_clean", lambda *args: None):
        slow = parse(body, max_fields=max_fields)
    assert parse(body, max_fields=max_fields) == slow


def test_job_records_as_the_pilot_writes_them_are_plain_valid_records() -> None:
    from aglidein.core.records import JOB_EVENTS, JOB_FIELDS

    line = (
        b'{"seq":7,"ts":"2026-01-01T00:10:00.123Z","level":"warning","event":"job.end",'
        b'"job":"1234.0@submit.example.org","owner":"alice","end_time":1767226200,'
        b'"exit_signal":9,"start_time":1767225600,"duration_s":600,'
        b'"msg":"user job 1234.0@submit.example.org of alice ended"}'
    )
    batch = parse_batch(line, max_fields=60, max_bytes=15000)
    assert batch.errors == []
    assert batch.events == ["job.end"]
    assert "job.end" in JOB_EVENTS
    assert all(name.encode() in line or name == "exit_code" for name in JOB_FIELDS)


_STAMP = st.one_of(
    st.from_regex(
        r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9][Tt][0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
        r"(\.[0-9]{0,10})?([Zz]|[+-]0[01]:0[01]|)\Z"
    ),
    st.text(max_size=30),
)


@given(st.lists(_STAMP, min_size=1, max_size=6))
@settings(max_examples=300, deadline=None)
def test_a_column_of_timestamps_parses_as_each_one_does(stamps: list[str]) -> None:
    def one(text: str) -> float | None:
        try:
            return parse_ts(text)
        except ValueError:
            return None

    each = [one(text) for text in stamps]
    if None in each:
        with pytest.raises(ValueError, match=r"^ts "):
            parse_ts_column(stamps)
    else:
        assert parse_ts_column(stamps) == each
