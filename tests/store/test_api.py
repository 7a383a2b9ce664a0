"""Store cursors: the opaque text the API hands out comes back as the same position."""

from __future__ import annotations

import pytest

from aglidein.store.api import MAX_CURSOR_BATCH, MAX_CURSOR_LINE, Cursor


def test_a_cursor_round_trips_and_orders_by_arrival() -> None:
    cursor = Cursor(12, 3)
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor(1, 99) < Cursor(2, 0) < Cursor(2, 1)
    assert Cursor.decode(f"{MAX_CURSOR_BATCH}.{MAX_CURSOR_LINE}").line == MAX_CURSOR_LINE


@pytest.mark.parametrize("text", ["", "12", "1.x", "-1.2", "1.2.3", "１.2", "1" * 41 + ".1"])
def test_anything_but_a_cursor_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"bad cursor .*use a next_cursor or end_cursor"):
        Cursor.decode(text)


def test_a_cursor_beyond_the_index_range_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Cursor.decode(f"{MAX_CURSOR_BATCH + 1}.0")
    with pytest.raises(ValueError, match="out of range"):
        Cursor.decode(f"1.{MAX_CURSOR_LINE + 1}")
