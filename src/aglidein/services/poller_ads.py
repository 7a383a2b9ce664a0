"""Glideins and startd slots from ads: the factory schedd's grid jobs and the collector's
slot ads of our glideins (both carry `AglideinFactory`, `AglideinEntry`, `AglideinGroup`,
`AglideinId`). Shared by the poller and `aglidein plan --startds/--glideins`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aglidein.classad.facade import quote
from aglidein.core.model import Glidein, GlideinState, Slot, SlotActivity
from aglidein.errors import CondorError

__all__ = [
    "BLACK_HOLE_ATTR",
    "GLIDEIN_PROJECTION",
    "OLD_FACTORY_PROJECTION",
    "SLOT_PROJECTION",
    "factory_constraint",
    "glidein_from_ad",
    "glideins_from_ads",
    "group_weights",
    "old_glideins_from_ads",
    "slot_from_ad",
    "slots_constraint",
    "slots_from_ads",
]

# the startd's latch of the pilot's GLIDEIN_BLACKHOLE (STARTD_LATCH_EXPRS): 1 once tripped
BLACK_HOLE_ATTR = "GLIDEIN_BLACKHOLEValue"

GLIDEIN_PROJECTION = (
    "AglideinId",
    "AglideinEntry",
    "AglideinGroup",
    "AglideinBatch",
    "AglideinCredential",
    "AglideinFactory",
    "ClusterId",
    "ProcId",
    "JobStatus",
    "EnteredCurrentStatus",
    "QDate",
    "NumSystemHolds",
    "HoldReason",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "GridJobStatus",
    "JobCurrentStartDate",
    "GridJobId",
)
SLOT_PROJECTION = (
    "Name",
    "AglideinId",
    "AglideinEntry",
    "AglideinGroup",
    "AglideinFactory",
    "State",
    "Activity",
    "Cpus",
    "Memory",
    "Gpus",
    "PartitionableSlot",
    "GLIDEIN_ToRetire",
    "Machine",
    BLACK_HOLE_ATTR,
)


# What tells an old (GlideinWMS) factory's glidein apart and where it runs.
OLD_FACTORY_PROJECTION = (
    "GLIDEIN_Factory",
    "GLIDEIN_Entry_Name",
    "GLIDEIN_Schedd",
    "GLIDEIN_ClusterId",
    "GLIDEIN_ProcId",
    "GLIDEIN_MASTER_NAME",
)


def factory_constraint(factory: str) -> str:
    """The constraint that selects this factory's glideins and slots."""
    return f"AglideinFactory == {quote(factory)}"


def slots_constraint(factory: str, old_factory: str | None) -> str:
    """Our slots, and during a migration the old factory's (`GLIDEIN_Factory`)."""
    ours = factory_constraint(factory)
    if old_factory is None:
        return ours
    return f"({ours}) || (GLIDEIN_Factory == {quote(old_factory)})"


def old_glideins_from_ads(
    ads: Iterable[Mapping[str, Any]], old_factory: str | None, entries: Mapping[str, str]
) -> dict[str, int]:
    """Our entry -> glideins of the old factory running there, from startd ads.

    `entries` maps the old factory's GLIDEIN_Entry_Name to our entry. A glidein is one
    startd however many slots it has: its factory job (schedd, cluster, proc), else its
    master's name, else the slot's machine.
    """
    if old_factory is None or not entries:
        return {}
    seen: dict[str, set[tuple[object, ...]]] = {}
    for ad in ads:
        a = _lower(ad)
        if a.get("aglideinid") is not None or a.get("glidein_factory") != old_factory:
            continue
        entry = entries.get(_str(a.get("glidein_entry_name")) or "")
        if entry is None:
            continue
        if a.get("glidein_clusterid") is not None:
            key: tuple[object, ...] = (
                a.get("glidein_schedd"),
                a.get("glidein_clusterid"),
                a.get("glidein_procid"),
            )
        else:
            key = (a.get("glidein_master_name") or a.get("machine") or a.get("name"),)
        seen.setdefault(entry, set()).add(key)
    return {entry: len(keys) for entry, keys in sorted(seen.items())}


def _lower(ad: Mapping[str, Any]) -> dict[str, Any]:
    return {name.lower(): value for name, value in ad.items()}


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def glidein_from_ad(ad: Mapping[str, Any], factory: str | None = None) -> Glidein | None:
    """A glidein from a factory schedd job ad (None when it is not one of ours)."""
    a = _lower(ad)
    glidein_id, entry = _str(a.get("aglideinid")), _str(a.get("aglideinentry"))
    if not glidein_id or not entry:
        return None
    if factory is not None and a.get("aglideinfactory") != factory:
        return None
    return Glidein(
        glidein_id=glidein_id,
        entry=entry,
        group=_str(a.get("aglideingroup")) or "",
        batch=_str(a.get("aglideinbatch")) or "",
        cluster=_int(a.get("clusterid")),
        proc=_int(a.get("procid")),
        state=GlideinState.from_job_status(_int(a.get("jobstatus"), 1)),
        entered_state=_float(a.get("enteredcurrentstatus")) or 0.0,
        queued=_float(a.get("qdate")) or 0.0,
        credential=_str(a.get("aglideincredential")),
        num_system_holds=_int(a.get("numsystemholds")),
        hold_reason=_str(a.get("holdreason")),
        hold_reason_code=_int(a.get("holdreasoncode")) if "holdreasoncode" in a else None,
        hold_reason_subcode=_int(a.get("holdreasonsubcode")) if "holdreasonsubcode" in a else None,
        grid_job_status=None if a.get("gridjobstatus") is None else str(a["gridjobstatus"]),
        job_start=_float(a.get("jobcurrentstartdate")),
        grid_job_id=_str(a.get("gridjobid")),
    )


def _activity(a: Mapping[str, Any], now: float) -> SlotActivity | None:
    latched = a.get(BLACK_HOLE_ATTR.lower())
    if latched is True or (type(latched) is int and latched == 1):
        return SlotActivity.BLACK_HOLE
    activity = str(a.get("activity") or "").lower()
    state = str(a.get("state") or "").lower()
    to_retire = _float(a.get("glidein_toretire"))
    if (
        activity == "retiring"
        or state in ("drained", "preempting")
        or (to_retire is not None and to_retire <= now)
    ):
        return SlotActivity.RETIRING
    if state == "claimed":
        return SlotActivity.BUSY
    if state == "unclaimed":
        if a.get("partitionableslot") is True and _int(a.get("cpus")) < 1:
            return None  # a partitionable slot with nothing left to hand out
        return SlotActivity.IDLE
    return SlotActivity.RETIRING  # owner, matched, backfill: not capacity for our jobs


def slot_from_ad(ad: Mapping[str, Any], now: float, factory: str | None = None) -> Slot | None:
    """A glidein's slot from a collector startd ad (None when not one of ours)."""
    a = _lower(ad)
    glidein_id, entry = _str(a.get("aglideinid")), _str(a.get("aglideinentry"))
    if not glidein_id or not entry:
        return None
    if factory is not None and a.get("aglideinfactory") != factory:
        return None
    activity = _activity(a, now)
    if activity is None:
        return None
    return Slot(
        name=_str(a.get("name")) or glidein_id,
        glidein_id=glidein_id,
        entry=entry,
        group=_str(a.get("aglideingroup")) or "",
        activity=activity,
        cpus=_int(a.get("cpus"), 1),
        memory=_int(a.get("memory")),
        gpus=_int(a.get("gpus")),
        partitionable=a.get("partitionableslot") is True,
        machine=_str(a.get("machine")) or "",
    )


def glideins_from_ads(
    ads: Iterable[Mapping[str, Any]], factory: str, *, schedd: str = ""
) -> tuple[Glidein, ...]:
    """Our glideins among the job ads of factory schedd `schedd`."""
    found = (g for ad in ads if (g := glidein_from_ad(ad, factory)) is not None)
    return tuple(dataclasses.replace(g, schedd=schedd) if schedd else g for g in found)


def slots_from_ads(ads: Iterable[Mapping[str, Any]], now: float, factory: str) -> tuple[Slot, ...]:
    """Our glideins' slots among startd ads."""
    return tuple(s for ad in ads if (s := slot_from_ad(ad, now, factory)) is not None)


_GROUP_ATTRS = frozenset({"jobcount", "autoclusterid"})


def group_weights(groups: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], int]]:
    """GroupBy ads as (the group's attributes without `JobCount`/`AutoClusterId`, its job
    count): what `Shaper.add_weighted` counts as that many jobs. CondorError when a group
    has no usable `JobCount`."""
    weighted: list[tuple[Mapping[str, Any], int]] = []
    for group in groups:
        count = next((v for k, v in group.items() if k.lower() == "jobcount"), None)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise CondorError(f"a GroupBy ad without a job count: {dict(group)!r}")
        weighted.append(({k: v for k, v in group.items() if k.lower() not in _GROUP_ATTRS}, count))
    return weighted
