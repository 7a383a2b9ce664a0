"""The `batch` and `arc` submit descriptions aglidein renders are accepted by a real
schedd (submitted through the bindings adapter, carrying their grid resource and our
attributes), and removed again. Nothing reaches a batch system or an ARC CE: the
tarball has no blahp and no ARC CE is running, so the jobs are removed at once."""

from __future__ import annotations

import os
import pwd
import uuid

import anyio
import pytest

from aglidein.condor.api import JobAction, SubmitDescription
from aglidein.condor.bindings import BindingsPool
from aglidein.core.submit import GlideinFiles, PilotFiles, render_submit
from tests.adapter_helpers import ENTRY_KINDS, make_config
from tests.realpool.factory import wait_for
from tests.realpool.pool import PoolInstance
from tests.realpool.topology import Topology

ENTRIES = {
    "BATCH": ENTRY_KINDS["BATCH"],
    # the proxy of make_config is no X.509 file, which submit would refuse to read
    "ARC": {**ENTRY_KINDS["ARC"], "auth": {"method": "scitoken", "credential": "osg"}},
}


@pytest.mark.parametrize("entry_name", sorted(ENTRIES))
def test_a_real_schedd_accepts_the_rendering(
    entry_name: str, realpool: Topology, vo_env: PoolInstance
) -> None:
    vo = realpool.vo
    base = realpool.base / f"render-{uuid.uuid4().hex[:8]}"
    config = make_config(base, ENTRIES, factory={"name": base.name})
    entry = config.entry(entry_name)
    files = base / "files"
    files.mkdir()
    paths = {name: files / name for name in ("glidein_startup.sh", "glidein.tar.gz", "attrs")}
    paths |= {"idtoken": files / "g1.idtoken", "logtoken": files / "g1.logtoken"}
    for path in paths.values():
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    owner = pwd.getpwnam(vo.user)
    for path in (base, *base.rglob("*")):
        os.chown(path, owner.pw_uid, owner.pw_gid)  # the schedd writes the log as the owner
    rendered = render_submit(
        config,
        entry,
        "main",
        "batch-1",
        [GlideinFiles("g1", str(paths["idtoken"]), str(paths["logtoken"]))],
        PilotFiles(
            str(paths["glidein_startup.sh"]), str(paths["glidein.tar.gz"]), str(paths["attrs"])
        ),
        "http://127.0.0.1:1/api/v1/logs",
        str(files),
    )
    description = SubmitDescription(
        commands=rendered.commands, queue_vars=rendered.queue_vars, itemdata=rendered.itemdata
    )
    pool = BindingsPool(lambda: config)
    ours = f'AglideinFactory == "{base.name}"'

    async def submit_query_remove() -> list[dict[str, object]]:
        schedd = pool.schedd("local")
        try:
            result = await schedd.submit(description)
            ads = await schedd.query(ours, ["GridResource", "AglideinEntry", "AglideinId"])
            await schedd.act(JobAction.REMOVE, result.job_ids, reason="rendering test")
            await schedd.act(JobAction.REMOVE_X, result.job_ids, reason="rendering test")
            return [dict(ad) for ad in ads]
        finally:
            await pool.aclose()

    ads = anyio.run(submit_query_remove)
    [ad] = ads
    kind = ENTRIES[entry_name]["gridtype"]
    assert str(ad["GridResource"]).startswith(f"{kind} ")
    assert ad["AglideinEntry"] == entry_name
    assert ad["AglideinId"] == "g1"
    wait_for(lambda: not vo.jobs(ours, ["ClusterId"]), 60, "the rendered job to be removed")
