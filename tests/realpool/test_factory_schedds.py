"""Two factory schedds (`pool.factory_schedds`) on real daemons: the VO pool's extra
schedds fs1 and fs2 (`VO_SCHEDDS`), each numbering its own clusters, so the same
`ClusterId.ProcId` names a different glidein on each. What
tests/services/test_factory_schedds.py shows on the simulated pool, here on HTCondor:
glideins spread over both, counted per schedd, reaching the site and joining the pool;
a hold removed or released at the schedd that holds it (not at the one whose job has
the same id); a stopped schedd's glideins counted, frozen, and picked up again when it
returns."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realpool.factory import Factory, entry_yaml, start_factory, user_jobs, wait_for
from tests.realpool.pool import PoolError, PoolInstance
from tests.realpool.topology import Topology

# Opt-in: in one fresh-clone CI run the first cluster on each schedd stayed idle on the
# factory schedds for nearly 3 minutes (a later cluster from fs1 reached the site), and the
# spread test timed out; the cause is not found yet. It passed in every other run.
pytestmark = pytest.mark.skipif(
    os.environ.get("AGLIDEIN_POOL_SCHEDDS", "") in {"", "0"},
    reason="opt-in real-pool test: AGLIDEIN_POOL_SCHEDDS=1",
)

STUCK = "    submit_attrs: {+remote_Requirements: false}\n"
LIMITS = "max_idle_per_entry: 4, reserve_idle: 0, ramp_up_attenuation: 1"
ATTRS = ["AglideinId", "ClusterId", "ProcId", "JobStatus", "HoldReasonCode", "NumHolds"]


@pytest.fixture
def schedds(vo_pool: PoolInstance) -> tuple[str, str]:
    """The two factory schedds' names (the VO pool's extra schedds fs1 and fs2)."""
    fs1, fs2 = vo_pool.schedd_names[1:]
    return fs1, fs2


def _answers(vo: PoolInstance, schedd: str) -> bool:
    return vo.run("condor_q", "-name", schedd, "-totals", check=False).returncode == 0


def _fs2_up(vo: PoolInstance, fs2: str) -> None:
    """fs2 running and answering (it may have been stopped by a failed test)."""
    if not _answers(vo, fs2):
        vo.switch_schedd("fs2", on=True)
        wait_for(lambda: _answers(vo, fs2), 60, f"{fs2} to answer again")


def ours(factory: Factory) -> str:
    return f'AglideinFactory == "{factory.name}"'


def queue(vo: PoolInstance, factory: Factory, schedd: str) -> dict[str, dict[str, Any]]:
    """This factory's glideins in `schedd`'s queue, by job id (ClusterId.ProcId)."""
    return {
        f"{j['ClusterId']}.{j['ProcId']}": j for j in vo.jobs(ours(factory), ATTRS, schedd=schedd)
    }


def queues(vo: PoolInstance, factory: Factory, names: tuple[str, str]) -> str:
    """Both queues (job id: JobStatus), for a failure message."""
    out = []
    for schedd in names:
        try:
            jobs = {k: j["JobStatus"] for k, j in queue(vo, factory, schedd).items()}
        except PoolError as exc:
            out.append(f"{schedd}: {exc}")
            continue
        out.append(f"{schedd}: {jobs}")
    return "; ".join(out)


def census(factory: Factory, names: tuple[str, str]) -> list[float]:
    """The factory's count per schedd (aglidein_factory_schedd_glideins)."""
    return [factory.metric("aglidein_factory_schedd_glideins", schedd=s) for s in names]


def schedds_up(factory: Factory, names: tuple[str, str]) -> list[float]:
    return [factory.metric("aglidein_factory_schedd_up", schedd=s) for s in names]


def failed_removals(factory: Factory) -> float:
    """Every removal the factory sent that failed (aglidein_removals_total, all labels)."""
    text = httpx.get(factory.url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("aglidein_removals_total{") and 'result="failure"' in line
    )


def pool_rows(factory: Factory, names: tuple[str, str]) -> list[bool]:
    """The status API's `ok` of each factory schedd's row."""
    pool = factory.get("/api/v1/status")["pool"]
    return [bool(pool["factory_schedd"]["ok"]), bool(pool[f"factory_schedd:{names[1]}"]["ok"])]


@pytest.mark.timeout(600)
def test_glideins_are_spread_counted_per_schedd_and_join_the_pool(
    realpool: Topology, vo_env: PoolInstance, schedds: tuple[str, str], tmp_path: Path
) -> None:
    vo, site = realpool.vo, realpool.site
    entries = entry_yaml("SITE_A", realpool, max_idle_s=60)
    factory = start_factory(
        tmp_path, realpool, entries, group_limits=LIMITS, factory_schedds=schedds, start=False
    )
    try:
        # 4 idle user jobs: 4 glideins, two clusters of 2, one on each schedd
        user_jobs(factory, realpool, "SITE_A", 4, command="sleep 120")
        factory.start()
        where = wait_for(
            lambda: (
                [sorted(queue(vo, factory, s)) for s in schedds]
                if all(queue(vo, factory, s) for s in schedds)
                else None
            ),
            120,
            lambda: f"glideins on both schedds: {queues(vo, factory, schedds)}",
        )
        assert [len(ids) for ids in where] == [2, 2], where
        # the census counts each schedd's queue (both answer: the cycle is whole)
        wait_for(
            lambda: census(factory, schedds) == [len(queue(vo, factory, s)) for s in schedds],
            60,
            lambda: (
                f"the census {census(factory, schedds)} to match {queues(vo, factory, schedds)}"
            ),
        )
        assert schedds_up(factory, schedds) == [1, 1]
        assert pool_rows(factory, schedds) == [True, True]
        # the glideins API places each glidein at its schedd under that schedd's job id
        on_queue = {
            str(j["AglideinId"]): (s, job_id)
            for s in schedds
            for job_id, j in queue(vo, factory, s).items()
        }

        def placed() -> dict[str, tuple[str, str]]:
            listed = factory.get("/api/v1/glideins", limit=100)["glideins"]
            return {
                g["glidein"]: (g["schedd"], g["job_id"]) for g in listed if g["glidein"] in on_queue
            }

        wait_for(lambda: placed() == on_queue, 120, lambda: f"{placed()} to be {on_queue}")
        # the glideins of both schedds reach the site and their startds join the VO pool
        by_schedd = {
            str(j["AglideinId"]): s for s in schedds for j in queue(vo, factory, s).values()
        }

        def joined() -> set[str]:
            slots = {str(slot["AglideinId"]) for slot in vo.startds(ours(factory))}
            return {by_schedd[g] for g in slots if g in by_schedd}

        wait_for(
            lambda: joined() == set(schedds),
            300,
            lambda: (
                f"slots of glideins from both schedds; joined from {joined()}; site queue:"
                f" {site.jobs(ours(factory), ['AglideinId', 'JobStatus'])};"
                f" {queues(vo, factory, schedds)}"
            ),
        )
        at_site = {str(j["AglideinId"]) for j in site.jobs(ours(factory), ["AglideinId"])}
        assert {by_schedd[g] for g in at_site if g in by_schedd} == set(schedds)
    finally:
        factory.cleanup(realpool)


def _equalize(vo: PoolInstance, names: tuple[str, str]) -> int:
    """Bring both schedds' next cluster id to the same number (empty clusters submitted
    held, then removed): the factory's first cluster on each has the same job ids."""
    probe = {"executable": "/bin/true", "hold": "true", "+AglideinProbe": "true"}
    nexts = {}
    for schedd in names:
        done = vo.run("condor_submit", "-name", schedd, "-terse", "-", input=_text(probe))
        nexts[schedd] = int(done.stdout.split(".")[0]) + 1
    target = max(nexts.values())
    for schedd, nxt in nexts.items():
        for _ in range(target - nxt):
            vo.run("condor_submit", "-name", schedd, "-terse", "-", input=_text(probe))
        vo.run("condor_rm", "-name", schedd, "-constraint", "AglideinProbe =?= true")
    return target


def _text(description: dict[str, str]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in description.items()) + "queue 1\n"


@pytest.mark.timeout(600)
def test_each_glidein_is_acted_on_at_its_own_schedd_and_a_stopped_one_is_frozen(
    realpool: Topology, vo_env: PoolInstance, schedds: tuple[str, str], tmp_path: Path
) -> None:
    vo = realpool.vo
    fs1, fs2 = schedds
    entries = entry_yaml("SITE_B", realpool, extra=STUCK)
    factory = start_factory(
        tmp_path,
        realpool,
        entries,
        cycle="3s",
        group_limits=LIMITS,
        factory_schedds=schedds,
        start=False,
    )
    try:
        # glideins that stay idle at the site; the demand is fixed: 4
        user_jobs(factory, realpool, "SITE_B", 4)
        cluster = _equalize(vo, schedds)
        factory.start()
        same = [f"{cluster}.0", f"{cluster}.1"]
        wait_for(
            lambda: all(sorted(queue(vo, factory, s)) == same for s in schedds),
            120,
            lambda: f"cluster {cluster} on both schedds: {queues(vo, factory, schedds)}",
        )
        first = {s: {k: j["AglideinId"] for k, j in queue(vo, factory, s).items()} for s in schedds}
        assert set(first[fs1].values()).isdisjoint(first[fs2].values())

        # --- 2: holds on fs2, under job ids fs1 has too ---------------------------------
        # made while the daemon is down, so it sees both holds as they are set here
        factory.stop()
        for job_id in same:
            vo.run("condor_hold", "-name", fs2, job_id)
        # N.1: a hold a release fixes (not a person's), long enough ago to release now
        vo.run("condor_qedit", "-name", fs2, same[1], "HoldReasonCode", "2")
        vo.run(
            "condor_qedit",
            "-name",
            fs2,
            same[1],
            "EnteredCurrentStatus",
            str(int(time.time()) - 3600),
        )
        held = queue(vo, factory, fs2)
        assert [held[j]["JobStatus"] for j in same] == [5, 5], held
        factory.start()
        # N.0 (a person's hold) is removed from fs2, N.1 released there; fs1's jobs of
        # the same ids are neither
        removed = wait_for(
            lambda: vo.history(
                f"{ours(factory)} && ClusterId == {cluster}",
                ["ProcId", "RemoveReason", "AglideinId"],
                schedd=fs2,
            ),
            120,
            lambda: f"{fs2}'s {same[0]} to be removed: {queues(vo, factory, schedds)}",
        )
        assert [(r["ProcId"], r["AglideinId"]) for r in removed] == [(0, first[fs2][same[0]])]
        assert "held_unrecoverable" in str(removed[0]["RemoveReason"]), removed
        wait_for(
            lambda: queue(vo, factory, fs2).get(same[1], {}).get("JobStatus") == 1,
            120,
            lambda: f"{fs2}'s {same[1]} to be released: {queues(vo, factory, schedds)}",
        )
        on_fs1 = queue(vo, factory, fs1)
        assert {k: j["AglideinId"] for k, j in on_fs1.items() if k in same} == first[fs1]
        assert all(on_fs1[k]["JobStatus"] == 1 and not on_fs1[k].get("NumHolds") for k in same)
        assert not vo.history(ours(factory), ["ClusterId"], schedd=fs1)
        assert factory.metric("aglidein_releases_total", entry="SITE_B", result="success") == 1
        assert (
            factory.metric(
                "aglidein_removals_total",
                entry="SITE_B",
                reason="held_unrecoverable",
                result="success",
            )
            == 1
        )

        # the removed one is replaced: 4 again (where depends on whether fs2's removed
        # glidein, counted there until it leaves the queue, was still in it)
        def settled() -> list[int] | None:
            jobs = [queue(vo, factory, s) for s in schedds]
            live = [sum(1 for j in q.values() if j["JobStatus"] != 3) for q in jobs]
            return live if sum(live) == 4 and live == [len(q) for q in jobs] else None

        counts = wait_for(settled, 120, lambda: f"4 glideins again: {queues(vo, factory, schedds)}")

        # --- 3: fs2 stops ----------------------------------------------------------------
        wait_for(
            lambda: census(factory, schedds) == counts,
            60,
            lambda: f"the census {census(factory, schedds)} to count {counts}",
        )
        on_fs2 = sorted(queue(vo, factory, fs2))
        vo.switch_schedd("fs2", on=False)
        wait_for(
            lambda: schedds_up(factory, schedds) == [1, 0], 60, f"the factory to see {fs2} down"
        )
        # room on fs1 only: one glidein goes away there. fs2's last known glideins still
        # count, so one replacement, not one per glidein of fs2; nothing else changes
        victim = sorted(queue(vo, factory, fs1))[0]
        vo.run("condor_rm", "-name", fs1, victim)
        wait_for(
            lambda: (
                len(queue(vo, factory, fs1)) == counts[0] and victim not in queue(vo, factory, fs1)
            ),
            120,
            lambda: f"{victim} replaced on {fs1}: {queues(vo, factory, schedds)}",
        )
        cycles = len(factory.events("cycle.done"))
        wait_for(lambda: len(factory.events("cycle.done")) >= cycles + 4, 90, "4 more cycles")
        assert len(queue(vo, factory, fs1)) == counts[0]
        assert census(factory, schedds) == counts  # fs2's: the last known
        assert pool_rows(factory, schedds) == [True, False]
        check = factory.run_cli("status", "--check")
        assert check.returncode == 2, (check.stdout, check.stderr)
        assert f"factory schedd {fs2} unreachable" in check.stdout, check.stdout
        # the demand ends: fs1's idle glideins are removed as excess, fs2's are left alone
        vo.run("condor_rm", "-constraint", f'AglideinTest == "{factory.name}"')
        wait_for(
            lambda: not queue(vo, factory, fs1),
            180,
            lambda: f"{fs1}'s glideins removed as excess: {queues(vo, factory, schedds)}",
        )
        # nothing was tried on fs2: the plan leaves a silent schedd's glideins alone
        assert failed_removals(factory) == 0
        wait_for(
            lambda: census(factory, schedds) == [0, counts[1]],
            60,
            lambda: f"the census {census(factory, schedds)} to count fs2's last known only",
        )
        # fs2 returns with the glideins it had: counted, then removed as excess too
        vo.switch_schedd("fs2", on=True)
        wait_for(
            lambda: schedds_up(factory, schedds) == [1, 1], 120, f"the factory to see {fs2} up"
        )
        assert pool_rows(factory, schedds) == [True, True]
        wait_for(
            lambda: not queue(vo, factory, fs2),
            180,
            lambda: f"{fs2}'s glideins removed as excess: {queues(vo, factory, schedds)}",
        )
        ended = vo.history(ours(factory), ["ClusterId", "ProcId", "RemoveReason"], schedd=fs2)
        excess = {
            f"{j['ClusterId']}.{j['ProcId']}" for j in ended if "excess" in str(j["RemoveReason"])
        }
        assert excess == set(on_fs2), ended
        wait_for(lambda: census(factory, schedds) == [0, 0], 60, "the census to count none")
    finally:
        _fs2_up(vo, fs2)
        factory.cleanup(realpool)
