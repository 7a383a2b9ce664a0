"""aglidein.services.glidein_logs.glidein_view: one glidein's detail and the tails of its output files."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from aglidein.core.model import Glidein, GlideinCensus, GlideinState
from aglidein.errors import StoreError
from aglidein.services.glidein_logs.glidein_view import (
    DETAIL_SCHEMA,
    MAX_TAIL_BYTES,
    GlideinView,
    read_tail,
)
from aglidein.services.roster import GlideinRoster
from aglidein.store.api import GlideinDetail, GlideinSummary
from aglidein.store.userjobs import UserJob

T0 = 1_800_000_000.0


class FakeStore:
    def __init__(self) -> None:
        self.details: dict[str, GlideinDetail] = {}
        self.jobs: dict[str, list[UserJob]] = {}
        self.failing = False

    async def glidein_details(self, names: list[str]) -> dict[str, GlideinDetail]:
        if self.failing:
            raise StoreError("store closed")
        return {n: self.details[n] for n in names if n in self.details}

    async def user_jobs(self, glidein: str) -> list[UserJob] | None:
        return self.jobs.get(glidein)


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "glideins"
        self.root.mkdir()
        self.store = FakeStore()
        self.roster = GlideinRoster()
        self.entries = ["CE1", "CE2", "../evil"]
        self.view = GlideinView(
            self.roster,
            lambda: self.store,  # type: ignore[arg-type,return-value]
            lambda: self.root,
            lambda: self.entries,
        )
        app = Starlette(routes=[Route(r.path, r.handler) for r in self.view.routes()])
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        )

    def write(self, entry: str, name: str, data: bytes) -> Path:
        path = self.root / entry / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_read_tail(tmp_path: Path) -> None:
    path = tmp_path / "g.out"
    path.write_bytes(b"0123456789")
    whole = read_tail(path, 100)
    assert whole is not None
    assert (whole.data, whole.size, whole.truncated) == (
        b"0123456789",
        10,
        False,
    )
    end = read_tail(path, 4)
    assert end is not None
    assert (end.data, end.size, end.truncated) == (b"6789", 10, True)
    assert read_tail(tmp_path / "missing", 4) is None
    link = tmp_path / "link.out"
    link.symlink_to(path)
    assert read_tail(link, 4) is None  # never followed
    fifo = tmp_path / "fifo.out"
    os.mkfifo(fifo)
    assert read_tail(fifo, 4) is None  # not a regular file: not read (nor blocked on)


async def test_detail_from_the_queue_and_the_logs(site: Site) -> None:
    site.roster.observe(
        GlideinCensus(
            glideins=(
                Glidein(
                    glidein_id="g1",
                    entry="CE2",
                    group="cms",
                    batch="b",
                    cluster=101,
                    proc=0,
                    state=GlideinState.RUNNING,
                    entered_state=T0,
                    queued=T0 - 60,
                    job_start=T0,
                ),
            )
        ),
        now=T0,
    )
    site.store.jobs["g1"] = [UserJob("7.0@s", 7, 0, "s", owner="alice", start=T0, exit_code=0)]
    site.write("CE2", "g1.err", b"oops")
    answer = await site.client.get("/api/v1/glideins/g1")
    assert answer.status_code == 200
    row = answer.json()
    assert set(DETAIL_SCHEMA["required"]) <= set(row)
    assert (row["glidein"], row["entry"], row["group"]) == ("g1", "CE2", "cms")
    assert row["user_jobs"] == [
        {
            "job": "7.0@s",
            "owner": "alice",
            "start": "2027-01-15T08:00:00.000Z",
            "end": None,
            "exit_code": 0,
            "exit_signal": None,
        }
    ]
    assert row["files"] == {"out": None, "err": "/api/v1/glideins/g1/files/err"}

    summary = GlideinSummary("g2", "CE1", "ended", T0, T0 + 5, 3, None)
    site.store.details["g2"] = GlideinDetail(summary, {"event": "glidein.end", "secret": 1})
    row = (await site.client.get("/api/v1/glideins/g2")).json()
    assert (row["entry"], row["state"], row["record_count"], row["group"]) == (
        "CE1",
        "ended",
        3,
        None,
    )
    assert row["user_jobs"] == []
    assert row["files"] == {"out": None, "err": None}


async def test_unknown_bad_and_failing(site: Site) -> None:
    assert (await site.client.get("/api/v1/glideins/nobody")).status_code == 404
    assert (await site.client.get("/api/v1/glideins/..")).status_code == 404
    assert (await site.client.get("/api/v1/glideins/-x")).status_code == 404
    site.store.failing = True
    answer = await site.client.get("/api/v1/glideins/g1")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"


async def test_files_are_served_from_the_glidein_entry_directory(site: Site) -> None:
    site.store.details["g2"] = GlideinDetail(
        GlideinSummary("g2", "CE2", "ended", T0, T0, 1, None), None
    )
    site.write("CE1", "g2.out", b"decoy")  # another entry's directory, searched later
    site.write("CE2", "g2.out", b"A" * 100 + b"the end\n")
    answer = await site.client.get("/api/v1/glideins/g2/files/out")
    assert answer.status_code == 200
    assert answer.content.endswith(b"the end\n")
    assert answer.headers["x-aglidein-file-size"] == "108"
    assert answer.headers["x-aglidein-truncated"] == "false"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"].startswith("text/plain")
    tail = await site.client.get("/api/v1/glideins/g2/files/out", params={"tail_bytes": 8})
    assert (tail.content, tail.headers["x-aglidein-truncated"]) == (b"the end\n", "true")
    # not known anywhere: the configured entries are searched
    site.write("CE1", "g9.err", b"found")
    assert (await site.client.get("/api/v1/glideins/g9/files/err")).content == b"found"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/glideins/g2/files/log", {}, 404),
        ("/api/v1/glideins/g2/files/out", {"tail_bytes": "0"}, 400),
        ("/api/v1/glideins/g2/files/out", {"tail_bytes": str(MAX_TAIL_BYTES + 1)}, 400),
        ("/api/v1/glideins/g2/files/out", {"tail_bytes": "x"}, 400),
        ("/api/v1/glideins/missing/files/out", {}, 404),
    ],
)
async def test_bad_file_requests(
    site: Site, path: str, params: dict[str, str], status: int
) -> None:
    answer = await site.client.get(path, params=params)
    assert answer.status_code == status
    assert "error" in answer.json()


async def test_a_symlinked_file_is_not_served_nor_listed(site: Site, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"private")
    (site.root / "CE1").mkdir()
    (site.root / "CE1" / "g3.out").symlink_to(secret)
    assert (await site.client.get("/api/v1/glideins/g3/files/out")).status_code == 404
    (site.root / "secret.out").write_bytes(b"private")
    traversal = await site.client.get("/api/v1/glideins/..%2Fsecret/files/out")
    assert traversal.status_code == 404
    assert b"private" not in traversal.content
    site.store.details["g3"] = GlideinDetail(
        GlideinSummary("g3", "CE1", "ended", T0, T0, 1, None), None
    )
    assert (await site.client.get("/api/v1/glideins/g3")).json()["files"]["out"] is None
