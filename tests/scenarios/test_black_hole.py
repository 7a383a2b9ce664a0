"""Black-hole nodes show up where an operator looks: status, decisions and exit metrics.

Every glidein sent to BH lands on a node whose startd is latched closed by the pilot's
black-hole protection (DESIGN §10): its startd latches `GLIDEIN_BLACKHOLEValue = 1` and runs no
job. A, the other entry, is healthy.
"""

from __future__ import annotations

from tests.scenarios.conftest import MakeSim
from tests.scenarios.harness import MATCH, ce_entry


def _entry(site: str) -> dict[str, object]:
    return ce_entry(site, limits={"max_glideins": 15})


async def test_black_hole_glideins_are_counted_in_status_and_their_exits_by_reason(
    make_sim: MakeSim,
) -> None:
    sim = make_sim(
        "black_hole.yaml",
        {"A": _entry("SiteA"), "BH": _entry("SiteBH")},
        groups=[{"name": "main", "schedds": ["schedd1"], "match": MATCH}],
    )
    for _ in range(6):  # half an hour: glideins at both entries have started
        await sim.cycle()
    bh, a = await sim.entry_status("BH"), await sim.entry_status("A")
    running_bh = sim.glideins(entry="BH")["running"]
    assert running_bh > 0
    # one slot per glidein, every one of them at BH a black hole, none at A
    assert bh["glideins"]["running"] == running_bh
    assert bh["glideins"]["black_hole"] == running_bh
    assert a["glideins"]["running"] > 0
    assert a["glideins"]["black_hole"] == 0
    # the black holes took no job: A's glideins run them all
    bh_row = sim.decision(sim.plans[-1], "BH")
    a_row = sim.decision(sim.plans[-1], "A")
    assert bh_row.running_jobs == 0
    assert a_row.running_jobs == a["glideins"]["running"]
    # a closed slot is not idle capacity: BH's demand is not met by its black holes
    assert bh_row.matching_jobs > 0

    for _ in range(14):  # past the black holes' hour: they exit with code 12
        await sim.cycle()
    assert sim.metric("aglidein_glidein_exits_total", entry="BH", reason="black_hole") > 0
    assert sim.metric("aglidein_glidein_exits_total", entry="A", reason="black_hole") == 0
    assert sim.metric("aglidein_glidein_exits_total", entry="BH", reason="ok") == 0
