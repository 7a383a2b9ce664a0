"""End to end on real daemons (issue 13 item 3): aglidein sees idle user jobs on the VO
schedd, sends glideins to the site through the real gridmanager (HTCondor-C), the pilot
starts a startd from the HTCondor tarball that joins the VO collector with the IDTOKEN
aglidein minted, the user jobs run on it, the glideins retire when idle and exit 0, and
the excess idle glideins are removed when the demand is gone."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realpool.factory import entry_yaml, start_factory, user_jobs, wait_for
from tests.realpool.pool import PoolInstance
from tests.realpool.topology import Topology

GLIDEIN_SLOT = re.compile(r"@glidein_([0-9a-f-]{36})@")


@pytest.mark.timeout(600)
def test_user_jobs_complete_on_glideins_that_then_retire(
    realpool: Topology, vo_env: PoolInstance, tmp_path: Path
) -> None:
    vo = realpool.vo
    # SITE_SLOW's glideins never start at the site (remote Requirements false): they stay
    # idle there and are the excess aglidein removes once the demand is gone
    # the pilot looks at its startd's jobs every 2 s, so the 10 s user jobs are seen
    # running (job.start) as well as ended (job.end, from the startd's history); they
    # retire 12 s idle, well before aglidein removes unused running glideins as excess
    # (10 cycles of 5 s without idle jobs): at 20 s a loaded machine once lost that race
    entries = entry_yaml(
        "SITE_A", realpool, max_idle_s=12, attrs=", GLIDEIN_JOBS_POLL_SECONDS: 2"
    ) + entry_yaml("SITE_SLOW", realpool, extra="    submit_attrs: {+remote_Requirements: false}\n")
    factory = start_factory(tmp_path, realpool, entries, cycle="5s")
    try:
        cluster = user_jobs(factory, realpool, "SITE_A,SITE_SLOW", 4, command="sleep 10")
        ours = f'AglideinFactory == "{factory.name}"'
        slots_seen: dict[str, dict[str, Any]] = {}

        def finished() -> list[dict[str, Any]] | None:
            for slot in vo.startds(ours):
                slots_seen[str(slot["Name"])] = slot
            done = vo.history(
                f"ClusterId == {cluster} && JobStatus == 4",
                ["ProcId", "ExitCode", "LastRemoteHost", "GlobalJobId"],
            )
            return done if len(done) == 4 else None

        done = wait_for(
            finished, 360, lambda: f"4 user jobs to complete; aglidein log:\n{factory.log()}"
        )

        # the user jobs ran on glidein slots, which advertised who they are
        glideins = set()
        for job in done:
            match = GLIDEIN_SLOT.search(str(job["LastRemoteHost"]))
            assert match, job
            assert job["ExitCode"] == 0
            glideins.add(match.group(1))
        assert slots_seen, "no glidein slot was seen in the VO collector"
        for slot in slots_seen.values():
            assert slot["AglideinEntry"] == "SITE_A"
            assert slot["GLIDEIN_Site"] == "SITE_A"
            assert slot["AglideinFactory"] == factory.name
            assert GLIDEIN_SLOT.search(f"@glidein_{slot['AglideinId']}@")

        # the pilot's records are in the log store, under the glidein the user job ran on
        for glidein in glideins:
            records = factory.get("/api/v1/logs", glidein=glidein, limit=1000)["records"]
            events = {r["event"] for r in records}
            assert {"glidein.start", "glidein.validated", "condor.started"} <= events, events
            assert all(r["entry"] == "SITE_A" for r in records)

        # the pilots recorded the user jobs they ran: `logs search --job Cluster.Proc@schedd`
        # finds, for each job condor_history says ran on a glidein slot, that glidein
        for job in done:
            schedd, job_id, _ = str(job["GlobalJobId"]).split("#")
            ref = f"{job_id}@{schedd}"
            ran_on = GLIDEIN_SLOT.search(str(job["LastRemoteHost"])).group(1)  # type: ignore[union-attr]
            assert job_id == f"{cluster}.{job['ProcId']}"
            found = wait_for(
                lambda ref=ref: _job_records(factory, ref),
                120,
                lambda ref=ref: f"the job.end of {ref}; aglidein log:\n{factory.log()}",
            )
            assert {r["glidein"] for r in found} == {ran_on}, (ref, found[:3])
            (end,) = [r for r in found if r["event"] == "job.end" and r["job"] == ref]
            (start,) = [r for r in found if r["event"] == "job.start" and r["job"] == ref]
            assert start["owner"] == end["owner"]
            assert abs(start["start_time"] - end["start_time"]) <= 10
            assert end["exit_code"] == 0
            assert end["owner"]
            assert end["end_time"] >= end["start_time"] > 0
            view = factory.get(f"/api/v1/glideins/{ran_on}")
            assert ref in [j["job"] for j in view["user_jobs"]]

        # demand is gone: the idle glideins at SITE_SLOW are removed as excess
        def slow_removed() -> list[dict[str, Any]] | None:
            if vo.jobs(f'{ours} && AglideinEntry == "SITE_SLOW"', ["ClusterId"]):
                return None
            return vo.history(
                f'{ours} && AglideinEntry == "SITE_SLOW"', ["RemoveReason", "JobStatus"]
            )

        removed = wait_for(slow_removed, 180, "SITE_SLOW's idle glideins to be removed")
        assert removed
        assert all("excess_idle" in str(g["RemoveReason"]) for g in removed)

        # the glideins that ran jobs retire after GLIDEIN_Max_Idle and exit 0, counted "ok"
        def retired() -> list[dict[str, Any]] | None:
            ended = vo.history(
                f'{ours} && AglideinEntry == "SITE_A" && JobStatus == 4',
                ["AglideinId", "ExitCode"],
            )
            ids = {g["AglideinId"] for g in ended}
            return ended if glideins <= ids else None

        def still_there() -> str:
            """What the factory and the pilots say of glideins that did not retire."""
            queue = vo.jobs(
                f'{ours} && AglideinEntry == "SITE_A"',
                ["AglideinId", "JobStatus", "GridJobStatus", "HoldReason"],
            )
            last = {
                g: [
                    (r["event"], r.get("ts"))
                    for r in factory.get("/api/v1/logs", glidein=g, order="desc", limit=5)[
                        "records"
                    ]
                ]
                for g in glideins
            }
            return f"the glideins {glideins} to retire; queue: {queue}; last records: {last}"

        # retiring waits GLIDEIN_Max_Idle, then the site job's end comes back through
        # HTCondor-C (polling): generous, for a loaded 2-core machine
        ended = wait_for(retired, 300, still_there)
        assert all(g["ExitCode"] == 0 for g in ended if g["AglideinId"] in glideins)
        # their stdout came back through HTCondor-C and is served to the viewer
        for glidein in glideins:
            out = wait_for(
                lambda glidein=glidein: _file(factory, glidein, "out"),
                60,
                f"the .out of glidein {glidein}",
            )
            assert "Glidein ending with code 0" in out
        wait_for(
            lambda: (
                factory.metric("aglidein_glidein_exits_total", entry="SITE_A", reason="ok")
                >= len(glideins)
            ),
            60,
            "the exits to be counted as ok",
        )
        # in the end every glidein has left: retired on its own or removed as excess
        wait_for(
            lambda: not vo.jobs(ours, ["ClusterId"]) and not vo.startds(ours),
            180,
            "every glidein to leave the factory schedd and the collector",
        )
        by_reason = {
            reason: factory.metric("aglidein_glidein_exits_total", entry="SITE_A", reason=reason)
            for reason in ("ok", "removed", "other")
        }
        assert by_reason["ok"] >= len(glideins), by_reason
        assert by_reason["other"] == 0, by_reason
        # per-group accounting: the glideins' wall time, the 4 user jobs' 10 s each, and
        # the rest (startup, GLIDEIN_Max_Idle) as badput, under the group that asked
        status = factory.get("/api/v1/status")
        (row,) = [r for r in status["accounting"] if r["entry"] == "SITE_A"]
        assert row["group"] != "unknown", row
        assert row["job_hours"] * 3600 >= 4 * 9, row
        assert row["glidein_hours"] > row["job_hours"], row
        assert row["badput_hours"] > 0, row
        assert row["validation_failures"] == 0, row
        assert factory.metric(
            "aglidein_user_job_seconds_total", group=row["group"], entry="SITE_A"
        ) == pytest.approx(row["job_hours"] * 3600, abs=1)
    finally:
        factory.cleanup(realpool)


def _job_records(factory: Any, ref: str) -> list[dict[str, Any]] | None:
    """The records `aglidein logs search --job REF --json` prints, once its job.end is in."""
    result = factory.run_cli("logs", "search", "--job", ref, "--json", "--limit", "10000")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    ended = any(r["event"] == "job.end" and r.get("job") == ref for r in records)
    return records if ended else None


def _file(factory: Any, glidein: str, kind: str) -> str | None:
    response = httpx.get(f"{factory.url}/api/v1/glideins/{glidein}/files/{kind}", timeout=10)
    return response.text if response.status_code == 200 else None
