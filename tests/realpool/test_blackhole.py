"""The black-hole latch on a real startd (issue 13 item 4): user jobs that exit at once
trip the pilot's latch (GLIDEIN_BLACKHOLE_NUMJOBS jobs in the statistics window with an
average busy time under 1/GLIDEIN_BLACKHOLE_RATE s), the startd takes no more jobs, the
glidein exits 12 and aglidein counts the exit as `black_hole`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.realpool.factory import entry_yaml, start_factory, user_jobs, wait_for
from tests.realpool.pool import PoolInstance
from tests.realpool.topology import Topology


@pytest.mark.timeout(360)
def test_jobs_that_exit_at_once_trip_the_black_hole_latch(
    realpool: Topology, vo_env: PoolInstance, tmp_path: Path
) -> None:
    vo = realpool.vo
    entries = entry_yaml(
        "SITE_A",
        realpool,
        max_idle_s=60,
        # 3 jobs in the window averaging under 10 s of busy time close the node
        attrs=", GLIDEIN_BLACKHOLE_NUMJOBS: 3, GLIDEIN_BLACKHOLE_RATE: 0.1",
        # the pilot looks at its slot's latch every 5 s (default 120 s)
        extra="    submit_attrs: {environment: 'GLIDEIN_CONDOR_POLL_SECONDS=5'}\n",
    )
    factory = start_factory(
        tmp_path,
        realpool,
        entries,
        group_limits="max_idle_per_entry: 1, reserve_idle: 0, ramp_up_attenuation: 1",
        start=False,
    )
    ours = f'AglideinFactory == "{factory.name}"'
    try:
        user_jobs(factory, realpool, "SITE_A", 10, command="true")
        factory.start()
        ended = wait_for(
            lambda: vo.history(f"{ours} && ExitCode == 12", ["AglideinId", "ExitCode"]),
            240,
            lambda: f"a glidein to exit 12 (black hole); aglidein log:\n{factory.log()[-3000:]}",
        )
        glidein = str(ended[0]["AglideinId"])
        wait_for(
            lambda: (
                factory.metric("aglidein_glidein_exits_total", entry="SITE_A", reason="black_hole")
                >= 1
            ),
            60,
            "the exit to be counted as black_hole",
        )
        records = factory.get("/api/v1/logs", glidein=glidein, limit=1000)["records"]
        assert "condor.black_hole" in {r["event"] for r in records}
        # the latch closed START: the black hole ran exactly NUMJOBS user jobs (one core,
        # so one at a time), the rest went to other glideins
        ran_there = [
            job
            for job in vo.history(f'AglideinTest == "{factory.name}"', ["LastRemoteHost"])
            if f"glidein_{glidein}@" in str(job.get("LastRemoteHost", ""))
        ]
        assert len(ran_there) == 3, ran_there
    finally:
        factory.stop()
        vo.run("condor_rm", "-constraint", ours, check=False)
        vo.run("condor_rm", "-constraint", f'AglideinTest == "{factory.name}"', check=False)
