"""Logs by user job over HTTP: `GET /api/v1/logs?job=`, `GET /api/v1/glideins/{id}` with
the user jobs and file links, the glidein's .out/.err files, and per-group accounting in
the metrics and `/api/v1/status`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson

from aglidein.condor.userlog import JobEnd
from aglidein.core.model import Glidein, GlideinCensus, GlideinState
from tests.adapter_helpers import metric
from tests.services.glidein_logs.helpers import LogServer, eventually, log_server

END = "2026-01-01T01:00:00Z"
END_EPOCH = 1767229200


def lines(*records: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps({"level": "info", "ts": END, **r}) for r in records)


def job_end(seq: int, job: str, start: int, end: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "event": "job.end",
        "job": job,
        "owner": "alice",
        "start_time": start,
        "end_time": end,
        "exit_code": 0,
        "duration_s": end - start,
    }


async def post(server: LogServer, glidein: str, body: bytes, entry: str = "E1") -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            server.url + "/api/v1/logs", content=body, headers=server.headers(glidein, entry)
        )
    assert response.status_code == 200, response.text


async def get(server: LogServer, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(server.url + path, params=params)


async def test_search_by_job_and_the_glidein_view(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        await post(
            server,
            "g-1",
            lines(
                {"seq": 0, "event": "glidein.start"},
                {"seq": 1, "event": "job.start", "job": "1234.0@vo", "owner": "alice",
                 "start_time": END_EPOCH - 600},
                job_end(2, "1234.0@vo", END_EPOCH - 600, END_EPOCH - 60),
            ),
        )  # fmt: skip
        await post(server, "g-2", lines({"seq": 0, "event": "glidein.start"}))

        found = (await get(server, "/api/v1/logs", job="1234.0@vo")).json()
        assert {r["glidein"] for r in found["records"]} == {"g-1"}
        assert [r["seq"] for r in found["records"]] == [0, 1, 2]
        (run,) = found["job_runs"]
        assert run == {
            "glidein": "g-1",
            "entry": "E1",
            "job": "1234.0@vo",
            "owner": "alice",
            "start": "2026-01-01T00:50:00.000Z",
            "end": "2026-01-01T00:59:00.000Z",
            "exit_code": 0,
            "exit_signal": None,
        }
        for ref in ("1234.0", "1234"):
            body = (await get(server, "/api/v1/logs", job=ref)).json()
            assert {r["glidein"] for r in body["records"]} == {"g-1"}
        assert (await get(server, "/api/v1/logs", job="77.0@vo")).json()["records"] == []
        bad = await get(server, "/api/v1/logs", job="../etc")
        assert bad.status_code == 400
        assert "Cluster.Proc@schedd" in bad.json()["error"]
        stream = await get(server, "/api/v1/logs/stream", job="1234.0")
        assert stream.status_code == 400

        view = (await get(server, "/api/v1/glideins/g-1")).json()
        assert view["glidein"] == "g-1"
        assert view["entry"] == "E1"
        assert [j["job"] for j in view["user_jobs"]] == ["1234.0@vo"]
        assert view["files"] == {"out": None, "err": None}
        assert (await get(server, "/api/v1/glideins/g-2")).json()["user_jobs"] == []
        assert (await get(server, "/api/v1/glideins/nobody")).status_code == 404


async def test_output_files_are_served_by_tail_and_nothing_else_is(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        await post(server, "g-1", lines({"seq": 0, "event": "glidein.start"}))
        entry_dir = server.state_dir / "glideins" / "E1"
        entry_dir.mkdir(parents=True)
        (entry_dir / "g-1.out").write_text("=== Glidein starting ===\n" + "x" * 5000 + "\nEND\n")
        (entry_dir / "g-1.err").write_text("an error line\n")
        secret = tmp_path / "secret"
        secret.write_text("not for the viewer\n")
        os.symlink(secret, entry_dir / "g-2.err")  # planted: never followed
        os.mkfifo(entry_dir / "g-3.out")  # never opened for reading (would block)

        view = (await get(server, "/api/v1/glideins/g-1")).json()
        assert view["files"] == {
            "out": "/api/v1/glideins/g-1/files/out",
            "err": "/api/v1/glideins/g-1/files/err",
        }
        whole = await get(server, "/api/v1/glideins/g-1/files/out")
        assert whole.status_code == 200
        assert whole.text.startswith("=== Glidein starting ===")
        assert whole.headers["x-aglidein-truncated"] == "false"
        tail = await get(server, "/api/v1/glideins/g-1/files/out", tail_bytes="4")
        assert (tail.text, tail.headers["x-aglidein-truncated"]) == ("END\n", "true")
        assert int(tail.headers["x-aglidein-file-size"]) > 5000
        assert (await get(server, "/api/v1/glideins/g-1/files/err")).text == "an error line\n"

        for path in (
            "/api/v1/glideins/g-2/files/err",  # a symlink
            "/api/v1/glideins/g-3/files/out",  # a FIFO
            "/api/v1/glideins/g-1/files/log",  # not out or err
            "/api/v1/glideins/..%2F..%2Fsecret/files/out",
            "/api/v1/glideins/g-404/files/out",
        ):
            response = await get(server, path)
            assert response.status_code == 404, path
            assert "not for the viewer" not in response.text
        big = await get(server, "/api/v1/glideins/g-1/files/out", tail_bytes="999999999")
        assert big.status_code == 400
        (entry_dir / "g-1.out").unlink()
        assert (await get(server, "/api/v1/glideins/g-1/files/out")).status_code == 404


async def test_files_need_read_auth(tmp_path: Path) -> None:
    async with log_server(tmp_path, read_token="r3ad") as server:
        await post(server, "g-1", lines({"seq": 0, "event": "glidein.start"}))
        (server.state_dir / "glideins" / "E1").mkdir(parents=True)
        (server.state_dir / "glideins" / "E1" / "g-1.out").write_text("hello\n")
        async with httpx.AsyncClient(timeout=10) as client:
            url = server.url + "/api/v1/glideins/g-1/files/out"
            # the test client is on localhost, but a read token is configured: it is needed
            assert (await client.get(url)).status_code in (401, 403)
            ok = await client.get(url, headers={"Authorization": "Bearer r3ad"})
            assert (ok.status_code, ok.text) == (200, "hello\n")


async def test_accounting_per_group_in_metrics_and_status(tmp_path: Path) -> None:
    async with log_server(tmp_path) as server:
        runtime = server.logs.runtime
        known = Glidein(
            glidein_id="g-1",
            entry="E1",
            group="cms",
            batch="b",
            cluster=10,
            proc=0,
            state=GlideinState.RUNNING,
            entered_state=0.0,
            queued=0.0,
        )
        runtime.roster.observe(GlideinCensus(glideins=(known,)), now=0.0)
        # g-1 (group cms): 1 h of wall time, two jobs overlapping for 30 min of busy time
        await post(
            server,
            "g-1",
            lines(
                job_end(0, "1.0@vo", END_EPOCH - 3000, END_EPOCH - 1800),
                job_end(1, "1.1@vo", END_EPOCH - 2400, END_EPOCH - 1200),
                {"seq": 2, "event": "glidein.end", "exit_code": 0, "reason": "ok",
                 "duration_s": 3600},
            ),
        )  # fmt: skip
        # g-2 (not on the roster): failed validation after 60 s
        await post(
            server,
            "g-2",
            lines(
                {"seq": 0, "event": "glidein.end", "exit_code": 10,
                 "reason": "validation_failed", "duration_s": 60},
            ),
        )  # fmt: skip
        labels = {"group": "cms", "entry": "E1"}
        await eventually(lambda: metric(runtime, "aglidein_glidein_seconds_total", **labels) > 0)
        assert metric(runtime, "aglidein_glidein_seconds_total", **labels) == 3600
        assert metric(runtime, "aglidein_user_job_seconds_total", **labels) == 2400
        assert metric(runtime, "aglidein_glidein_badput_seconds_total", **labels) == 1800
        unknown = {"group": "unknown", "entry": "E1"}
        await eventually(
            lambda: metric(runtime, "aglidein_glidein_validation_failures_total", **unknown) == 1
        )
        status = (await get(server, "/api/v1/status")).json()
        rows = {(r["group"], r["entry"]): r for r in status["accounting"]}
        assert rows[("cms", "E1")] == {
            "group": "cms",
            "entry": "E1",
            "glidein_hours": 1.0,
            "job_hours": round(2400 / 3600, 4),
            "badput_hours": 0.5,
            "validation_failures": 0,
            "since": rows[("cms", "E1")]["since"],
        }
        assert rows[("cms", "E1")]["since"].endswith("Z")
        assert rows[("unknown", "E1")]["validation_failures"] == 1
        assert rows[("unknown", "E1")]["badput_hours"] == round(60 / 3600, 4)


async def test_glideins_that_end_without_their_record_are_counted_from_the_queue(
    tmp_path: Path,
) -> None:
    async with log_server(tmp_path) as server:
        runtime = server.logs.runtime

        def on_queue(name: str, cluster: int) -> Glidein:
            return Glidein(
                glidein_id=name,
                entry="E1",
                group="cms",
                batch="b",
                cluster=cluster,
                proc=0,
                state=GlideinState.RUNNING,
                entered_state=0.0,
                queued=0.0,
                job_start=END_EPOCH - 1000,
            )

        runtime.roster.observe(
            GlideinCensus(glideins=(on_queue("killed", 20), on_queue("reported", 21))), now=0.0
        )
        # "killed" ran a 300 s job, then was killed at the site: no glidein.end
        await post(server, "killed", lines(job_end(0, "5.0@vo", END_EPOCH - 900, END_EPOCH - 600)))
        # "reported" posted its end (wall 1000 s, no job)
        await post(
            server,
            "reported",
            lines(
                {"seq": 0, "event": "glidein.end", "exit_code": 0, "reason": "ok",
                 "duration_s": 1000},
            ),
        )  # fmt: skip
        labels = {"group": "cms", "entry": "E1"}
        await eventually(lambda: metric(runtime, "aglidein_glidein_seconds_total", **labels) > 0)
        assert metric(runtime, "aglidein_glidein_seconds_total", **labels) == 1000

        ends = [JobEnd(20, 0, None, 9), JobEnd(21, 0, 0, None)]
        runtime.roster.record_ends(ends, END_EPOCH)
        server.logs.accounting.queue_ends(ends)
        # the log service settles them within a second or so: only "killed" is new
        await eventually(
            lambda: metric(runtime, "aglidein_glidein_seconds_total", **labels) == 2000
        )
        assert metric(runtime, "aglidein_user_job_seconds_total", **labels) == 300
        assert metric(runtime, "aglidein_glidein_badput_seconds_total", **labels) == 1000 + 700
        # its glidein.end arriving late (a retried post) is not counted a second time
        await post(
            server,
            "killed",
            lines(
                {"seq": 1, "event": "glidein.end", "exit_code": 13, "reason": "signalled",
                 "duration_s": 1000},
            ),
        )  # fmt: skip
        await eventually(lambda: server.logs.store.ended_glideins(["killed"]) == {"killed"})
        await anyio.sleep(0.2)
        assert metric(runtime, "aglidein_glidein_seconds_total", **labels) == 2000
        status = (await get(server, "/api/v1/status")).json()
        (row,) = status["accounting"]
        assert (row["glidein_hours"], row["badput_hours"]) == (
            round(2000 / 3600, 4),
            round(1700 / 3600, 4),
        )
