"""`aglidein logs search [filters] [--json]` and `aglidein logs tail --glidein ID [-f]`.

`logs search --job 1234.0@schedd` prints the records of the glidein(s) that ran that user
job (from the pilot's job.start / job.end records), their user jobs first."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from aglidein.client import DaemonClient, add_client_arguments, client_from_args
from aglidein.errors import AglideinError

__all__ = ["format_job_run", "format_record", "register"]

CORE = ("glidein", "entry", "seq", "ts", "level", "event", "msg")


def register(subparsers: Any) -> None:
    """Add `logs search` and `logs tail`."""
    logs = subparsers.add_parser("logs", help="search and follow glidein logs")
    sub = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)

    search = sub.add_parser("search", help="search stored log records")
    add_client_arguments(search)
    search.add_argument("--glidein", help="only this glidein")
    search.add_argument("--entry", help="only glideins of this entry")
    search.add_argument(
        "--job",
        help="the glideins that ran this user job: 1234.0@schedd, 1234.0 (any schedd) or 1234",
    )
    search.add_argument("--level", help="only these levels, e.g. error,critical")
    search.add_argument("--event", help="only this event, e.g. validate.cvmfs")
    search.add_argument("--q", help="full-text terms that must all appear in msg")
    search.add_argument("--since", help="RFC 3339 UTC time or a duration ago (15m, 2h)")
    search.add_argument("--until", help="RFC 3339 UTC time or a duration ago")
    search.add_argument("--limit", type=int, default=100, help="at most this many (≤ 10000)")
    search.add_argument("--newest-first", action="store_true", help="newest records first")
    search.add_argument("--json", action="store_true", help="one JSON record per line")
    search.set_defaults(func=search_logs)

    tail = sub.add_parser("tail", help="the last records of one glidein; -f to follow")
    add_client_arguments(tail)
    tail.add_argument("--glidein", required=True, help="the glidein id")
    tail.add_argument("-n", "--lines", type=int, default=20, help="records to show first")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("--json", action="store_true", help="one JSON record per line")
    tail.set_defaults(func=tail_logs)


def format_record(record: dict[str, Any]) -> str:
    """One record as a line a person reads: time, level, glidein, event, msg, fields."""
    fields = " ".join(f"{k}={v}" for k, v in record.items() if k not in CORE)
    parts = [
        str(record.get("ts", "")),
        f"{str(record.get('level', '')).upper():<8}",
        str(record.get("glidein", "")),
        str(record.get("event", "")),
        str(record.get("msg", "")),
    ]
    return " ".join(p for p in parts if p) + (f"  {fields}" if fields else "")


def format_job_run(run: dict[str, Any]) -> str:
    """One `job_runs` row as a comment line: the job, where it ran, when, how it ended."""
    if run.get("exit_signal") is not None:
        ended = f"signal {run['exit_signal']}"
    elif run.get("exit_code") is not None:
        ended = f"exit {run['exit_code']}"
    else:
        ended = "running" if run.get("end") is None else "ended"
    return (
        f"# {run.get('job')} ran on glidein {run.get('glidein')} (entry {run.get('entry')}):"
        f" owner {run.get('owner') or '?'}, {run.get('start') or '?'} → {run.get('end') or '…'},"
        f" {ended}"
    )


def _emit(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(record).decode() + "\n")
    else:
        sys.stdout.write(format_record(record) + "\n")


def search_logs(args: argparse.Namespace) -> int:
    """Print matching records; exit 0 even when none match."""
    if not 1 <= args.limit <= 10_000:
        raise AglideinError("--limit must be in 1..10000")
    params = {
        key: value
        for key in ("glidein", "entry", "job", "level", "event", "q", "since", "until")
        if (value := getattr(args, key)) is not None
    }
    params["limit"] = str(args.limit)
    if args.newest_first:
        params["order"] = "desc"
    body = client_from_args(args).request("GET", "/api/v1/logs", params=params)
    if args.job is not None and not args.json:
        runs = body.get("job_runs") or []
        for run in runs:
            print(format_job_run(run))
        if not runs:
            print(f"# no glidein has recorded user job {args.job}")
    for record in body["records"]:
        _emit(record, args.json)
    if body.get("index_lag_s", 0) > 5 and args.q:
        print(
            f"aglidein: the full-text index is {body['index_lag_s']:.0f} s behind",
            file=sys.stderr,
        )
    return 0


def tail_logs(args: argparse.Namespace) -> int:
    """Print a glidein's last records, then (with -f) new ones as they arrive."""
    client = client_from_args(args)
    body = client.request(
        "GET",
        "/api/v1/logs",
        params={"glidein": args.glidein, "order": "desc", "limit": str(max(1, args.lines))},
    )
    for record in reversed(body["records"]):
        _emit(record, args.json)
    sys.stdout.flush()
    if not args.follow:
        return 0
    for record in follow(client, {"glidein": args.glidein}, body["end_cursor"]):
        _emit(record, args.json)
        sys.stdout.flush()
    return 0


def follow(client: DaemonClient, params: dict[str, str], cursor: str) -> Iterator[dict[str, Any]]:
    """Records from the live stream after `cursor`, until the daemon ends it."""
    token = client.read_token or client.admin_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = client.base_url.rstrip("/") + "/api/v1/logs/stream"
    try:
        with httpx.stream(
            "GET",
            url,
            params={**params, "cursor": cursor},
            headers=headers,
            timeout=httpx.Timeout(10.0, read=60.0),
        ) as response:
            if response.status_code != 200:
                response.read()
                raise AglideinError(
                    f"GET /api/v1/logs/stream: HTTP {response.status_code}: {response.text}"
                )
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield orjson.loads(line[6:])
    except httpx.HTTPError as exc:
        raise AglideinError(f"lost the log stream: {exc}") from None
