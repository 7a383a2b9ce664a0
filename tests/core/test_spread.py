"""Spreading clusters across factory schedds."""

from __future__ import annotations

from aglidein.core.model import Glidein, GlideinState
from aglidein.core.spread import entry_spread, group_by_schedd, pick_schedd


def _glidein(entry: str, schedd: str, proc: int) -> Glidein:
    return Glidein(
        glidein_id=f"{schedd}-{proc}",
        entry=entry,
        group="g",
        batch="b",
        cluster=1,
        proc=proc,
        state=GlideinState.IDLE,
        entered_state=0.0,
        queued=0.0,
        schedd=schedd,
    )


def test_the_schedd_with_fewest_of_the_entrys_glideins_gets_the_cluster() -> None:
    glideins = [_glidein("A", "s1", 0), _glidein("A", "s1", 1), _glidein("B", "s2", 0)]
    held = entry_spread(glideins, "A", ("s1", "s2"))
    assert held == {"s1": 2}
    assert pick_schedd(("s1", "s2"), held, ()) == "s2"  # B's glidein on s2 does not count


def test_ties_go_by_the_order_of_the_config() -> None:
    assert pick_schedd(("s2", "s1"), {}, ()) == "s2"
    assert pick_schedd(("s1", "s2"), {"s1": 1, "s2": 1}, ()) == "s1"


def test_an_excluded_schedd_gets_none_and_none_left_is_none() -> None:
    assert pick_schedd(("s1", "s2"), {"s2": 9}, {"s1"}) == "s2"
    assert pick_schedd(("s1", "s2"), {}, {"s1", "s2"}) is None


def test_a_glidein_of_no_named_schedd_is_the_first_ones() -> None:
    assert entry_spread([_glidein("A", "", 0)], "A", ("s1", "s2")) == {"s1": 1}


def test_keys_are_grouped_by_schedd_with_plain_ids_on_the_default() -> None:
    keys = ["1.0@s1", "2.0@s2", "3.1", "4.0@schedd@host"]
    assert group_by_schedd(keys, "s1") == {
        "s1": ["1.0", "3.1"],
        "s2": ["2.0"],
        "schedd@host": ["4.0"],
    }
