"""The full-text index rows of a stored batch: one per record with a message."""

from __future__ import annotations

import orjson

from aglidein.store.indexer import LINE_BITS, batch_msgs, fts_rows


def test_index_rows_carry_batch_and_line_and_skip_empty_messages() -> None:
    data = b"\n".join(orjson.dumps(r) for r in [{"msg": "a b"}, {"event": "x"}, {"msg": "c"}])
    msgs = batch_msgs(data)
    assert msgs == ["a b", "", "c"]
    rows = fts_rows(7, msgs)
    assert rows == [(7 << LINE_BITS, "a b"), ((7 << LINE_BITS) | 2, "c")]
    assert {rowid >> LINE_BITS for rowid, _ in rows} == {7}
