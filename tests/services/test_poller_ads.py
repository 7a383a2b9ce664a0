"""Ads to census: our glideins and their slots from schedd and collector ads, whatever
the attribute case; GroupBy ads with their job counts."""

from __future__ import annotations

import pytest

from aglidein.core.model import GlideinState, SlotActivity
from aglidein.errors import CondorError
from aglidein.services.poller_ads import (
    factory_constraint,
    glidein_from_ad,
    glideins_from_ads,
    group_weights,
    slot_from_ad,
)

JOB = {
    "AglideinId": "g1",
    "AglideinEntry": "CE_A",
    "AglideinGroup": "main",
    "AglideinFactory": "f",
    "ClusterId": 7,
    "ProcId": 1,
    "JobStatus": 5,
    "HoldReasonCode": 12,
    "QDate": 100,
}


def test_a_job_ad_of_ours_becomes_a_glidein_in_any_attribute_case() -> None:
    glidein = glidein_from_ad({k.lower(): v for k, v in JOB.items()}, "f")
    assert glidein is not None
    assert (glidein.job_id, glidein.state, glidein.hold_reason_code) == (
        "7.1",
        GlideinState.HELD,
        12,
    )
    assert glidein.hold_reason_subcode is None
    assert glidein_from_ad(JOB, "other") is None
    assert glidein_from_ad({"ClusterId": 1}) is None
    assert len(glideins_from_ads([JOB, {"Owner": "user"}], "f")) == 1


@pytest.mark.parametrize(
    ("extra", "activity"),
    [
        ({"State": "Claimed", "Activity": "Busy"}, SlotActivity.BUSY),
        ({"State": "Unclaimed", "Activity": "Idle"}, SlotActivity.IDLE),
        ({"State": "Claimed", "Activity": "Retiring"}, SlotActivity.RETIRING),
        ({"State": "Unclaimed", "GLIDEIN_ToRetire": 50}, SlotActivity.RETIRING),
        ({"State": "Owner"}, SlotActivity.RETIRING),
        ({"State": "Unclaimed", "GLIDEIN_BLACKHOLEValue": 1}, SlotActivity.BLACK_HOLE),
    ],
)
def test_a_slot_ad_says_what_the_slot_does(
    extra: dict[str, object], activity: SlotActivity
) -> None:
    ad = {"Name": "slot1@x", "AglideinId": "g1", "AglideinEntry": "CE_A", "Cpus": 4, **extra}
    slot = slot_from_ad(ad, now=100.0)
    assert slot is not None
    assert slot.activity is activity
    assert slot.cpus == 4


def test_a_partitionable_slot_with_nothing_left_is_no_capacity() -> None:
    ad = {"AglideinId": "g", "AglideinEntry": "E", "State": "Unclaimed", "Cpus": 0}
    assert slot_from_ad({**ad, "PartitionableSlot": True}, 0.0) is None
    assert slot_from_ad(ad, 0.0) is not None


def test_group_ads_carry_their_job_counts() -> None:
    groups = [{"JobCount": 2, "AutoClusterId": 4, "RequestCpus": 1}, {"jobcount": 0, "X": 1}]
    assert group_weights(groups) == [({"RequestCpus": 1}, 2), ({"X": 1}, 0)]
    for bad in ({"RequestCpus": 1}, {"JobCount": -1}, {"JobCount": True}, {"JobCount": "3"}):
        with pytest.raises(CondorError, match="without a job count"):
            group_weights([bad])


def test_the_factory_constraint_quotes_its_name() -> None:
    assert factory_constraint('a"b') == 'AglideinFactory == "a\\"b"'
