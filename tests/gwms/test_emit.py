"""The YAML writer: what it writes reads back as the same data, comments never break it."""

from __future__ import annotations

import math

import yaml
from hypothesis import given
from hypothesis import strategies as st

from aglidein.gwms.emit import Commented, Node, dump_yaml, plain, yaml_scalar

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(),
    st.sampled_from(
        [
            "True",
            "yes",
            "off",
            "~",
            "null",
            "1:30",
            "2001-12-14",
            "0x1F",
            "1_000",
            "1e3",
            "-",
            "@a",
            "a: b",
            "a #b",
            "'q'",
            '"q"',
            "",
            " lead",
            "trail ",
            "=",
            "!tag",
            "*alias",
            "&anchor",
        ]
    ),
)
keys = st.text(min_size=1, max_size=12)


def nodes(depth: int = 2) -> st.SearchStrategy[Node]:
    """Nested maps and lists, some of them commented."""
    if depth == 0:
        return scalars
    children = nodes(depth - 1)
    return st.one_of(
        scalars,
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        st.builds(Commented, children, st.tuples(st.text(max_size=30))),
    )


@given(scalars)
def test_every_scalar_reads_back_identically(value: str | int | float | bool | None) -> None:
    loaded = yaml.safe_load(f"k: {yaml_scalar(value)}\n")["k"]
    assert loaded == value
    assert type(loaded) is type(value)


@given(st.dictionaries(keys, nodes(), min_size=1, max_size=4), st.tuples(st.text(max_size=40)))
def test_documents_read_back_as_their_data(document: dict[str, Node], header: tuple[str]) -> None:
    text = dump_yaml(document, header)
    assert yaml.safe_load(text) == plain(document)


def test_plain_strings_stay_readable_and_tricky_ones_are_quoted() -> None:
    text = dump_yaml({"a": "fermicloud378.fnal.gov", "b": "True", "c": "1:30", "d": "+maxMemory"})
    assert text == "a: fermicloud378.fnal.gov\nb: 'True'\nc: '1:30'\nd: '+maxMemory'\n"


def test_comments_go_above_their_key_or_item() -> None:
    document: dict[str, Node] = {
        "entries": [Commented({"name": "A", "enabled": False}, ("from f.xml:3", "two\nlines"))],
        "pool": {"trust_domain": Commented("x", ("PLACEHOLDER: set it",))},
    }
    text = dump_yaml(document, ("header",))
    assert text.splitlines() == [
        "# header",
        "entries:",
        "  # from f.xml:3",
        "  # two",
        "  # lines",
        "  - name: A",
        "    enabled: false",
        "pool:",
        "  # PLACEHOLDER: set it",
        "  trust_domain: x",
    ]


def test_floats_without_a_dot_still_read_as_floats() -> None:
    for value in (1e-05, 1e20, 1.5e-07, 0.133, 3.0):
        assert yaml.safe_load(yaml_scalar(value)) == value
    assert math.isinf(yaml.safe_load(yaml_scalar(float("inf"))))
