"""`aglidein logs search` and `aglidein logs tail` against a running log service."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest

from aglidein.cli import main
from tests.services.glidein_logs.helpers import LogServer, eventually, log_server, ndjson


async def post(server: LogServer, glidein: str, body: bytes) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            server.url + "/api/v1/logs", content=body, headers=server.headers(glidein)
        )
    assert response.status_code == 200


def output(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What the command printed (the in-process daemon's own log lines left out)."""
    return [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("2026-01-01", "{"))
    ]


async def run_cli(*argv: str) -> int:
    return await anyio.to_thread.run_sync(main, list(argv))


async def test_search_prints_records_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with log_server(tmp_path) as server:
        await post(server, "g1", ndjson(range(3), msg="hello {seq}"))
        await post(server, "g2", ndjson([7], level="error", msg="it broke"))
        assert await run_cli("logs", "search", "--url", server.url, "--glidein", "g1") == 0
        lines = output(capsys)
        assert len(lines) == 3
        assert "INFO" in lines[0]
        assert "g1 test.step hello 0" in lines[0]
        assert "n=0" in lines[0]
        assert (
            await run_cli("logs", "search", "--url", server.url, "--level", "error", "--json") == 0
        )
        records = [json.loads(line) for line in output(capsys)]
        assert [(r["glidein"], r["seq"], r["msg"]) for r in records] == [("g2", 7, "it broke")]
        assert await run_cli("logs", "search", "--url", server.url, "--level", "loud") == 1
        assert "level" in capsys.readouterr().err


async def test_tail_follows_new_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with log_server(tmp_path) as server:
        await post(server, "g1", ndjson(range(30)))
        assert await run_cli("logs", "tail", "--url", server.url, "--glidein", "g1", "-n", "5") == 0
        shown = output(capsys)
        assert [line.split()[-1] for line in shown] == [f"n={i}" for i in range(25, 30)]

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                run_cli,
                "logs",
                "tail",
                "--url",
                server.url,
                "--glidein",
                "g1",
                "-n",
                "1",
                "-f",
                "--json",
            )
            await anyio.sleep(1.0)
            await post(server, "g1", ndjson([30, 31]))
            seen: list[str] = []

            def has_both() -> bool:
                seen.extend(output(capsys))
                return len(seen) >= 3

            await eventually(has_both)
            await server.logs.closer.stop()  # ends the stream, so the command returns
        assert [json.loads(line)["seq"] for line in seen] == [29, 30, 31]


async def test_search_by_job_names_the_glidein_then_prints_its_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with log_server(tmp_path) as server:
        end = (
            b'{"seq":5,"ts":"2026-01-01T00:10:00Z","level":"info","event":"job.end",'
            b'"job":"1234.0@submit.example.org","owner":"alice","start_time":1767225600,'
            b'"end_time":1767226200,"exit_code":0}'
        )
        await post(server, "g1", ndjson(range(2)) + b"\n" + end)
        await post(server, "g2", ndjson(range(3)))
        argv = ("logs", "search", "--url", server.url, "--job")
        assert await run_cli(*argv, "1234.0@submit.example.org") == 0
        out = [
            line
            for line in capsys.readouterr().out.splitlines()
            if line.startswith(("2026-01-01", "#"))
        ]
        assert out[0] == (
            "# 1234.0@submit.example.org ran on glidein g1 (entry E1): owner alice,"
            " 2026-01-01T00:00:00.000Z → 2026-01-01T00:10:00.000Z, exit 0"
        )
        records = [line for line in out if line.startswith("2026-01-01")]
        assert len(records) == 3
        assert all(" g1 " in line for line in records)
        assert await run_cli(*argv, "1234", "--json") == 0
        assert {json.loads(line)["glidein"] for line in output(capsys)} == {"g1"}
        assert await run_cli(*argv, "99.0") == 0
        assert "# no glidein has recorded user job 99.0" in capsys.readouterr().out
        assert await run_cli(*argv, "not-a-job") == 1
        assert "Cluster.Proc@schedd" in capsys.readouterr().err


def test_status_shows_the_accounting_table() -> None:
    from io import StringIO

    from rich.console import Console

    from aglidein.statusview import status_renderable

    document = {
        "factory": {"name": "f"},
        "entries": [],
        "accounting": [
            {
                "group": "cms",
                "entry": "CE1",
                "glidein_hours": 10.0,
                "job_hours": 7.5,
                "badput_hours": 2.5,
                "validation_failures": 3,
                "since": "2026-12-07T04:00:00Z",
            }
        ],
    }
    out = StringIO()
    Console(file=out, width=200).print(status_renderable(document))
    text = out.getvalue()
    assert "accounting since 2026-12-07T04:00:00Z" in text
    row = next(line for line in text.splitlines() if "cms" in line)
    for cell in ("CE1", "10.00", "7.50", "2.50", "25", "3"):
        assert cell in row
