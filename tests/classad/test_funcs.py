"""string_list_items: the split without a regex (default delimiters, ASCII) gives the
items the regex split gives, whatever the text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from aglidein.classad.funcs import string_list_items
from aglidein.classad.ops import DEFAULT_DELIMITERS, STRING_LIST_SPACE


def _by_regex(text: str, delimiters: str) -> list[str]:
    items = re.split("[" + re.escape(delimiters) + "]", text)
    return [s for s in (item.strip(STRING_LIST_SPACE) for item in items) if s]


_TRICKY = ", \t\r\n\v\f\x1c\x1d\x1e\x1f\x85\xa0\u2003ab;|"


@given(st.text(alphabet=st.sampled_from(_TRICKY), max_size=40))
def test_default_delimiters_as_the_regex_split(text: str) -> None:
    assert string_list_items(text) == _by_regex(text, DEFAULT_DELIMITERS)


@given(st.text(max_size=40))
def test_any_text_as_the_regex_split(text: str) -> None:
    assert string_list_items(text) == _by_regex(text, DEFAULT_DELIMITERS)
    assert string_list_items(text, ";|") == _by_regex(text, ";|")


def test_site_list() -> None:
    assert string_list_items("Site_1, Site_2,,Site_3\tSite_4 ") == [
        "Site_1",
        "Site_2",
        "Site_3",
        "Site_4",
    ]
    assert string_list_items("a\vb, c\x1cd") == ["a\vb", "c\x1cd"]  # not C isspace delimiters
