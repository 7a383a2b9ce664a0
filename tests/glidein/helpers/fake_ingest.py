"""A scriptable stand-in for POST /api/v1/logs, for the pilot's bats tests.

    python fake_ingest.py --dir DIR --plan 'drop,429:1,413>3,ok' [--token T]

Listens on 127.0.0.1 (a free port, written to DIR/port), follows the plan one step
per request (the last step repeats) and records what it got:

- DIR/stored.ndjson: every record stored, once per seq (exactly-once on seq);
- DIR/requests.log: one line per request: step, status, lines, duplicates, encoding.

Steps: `ok` (store, 200 or 400 naming bad lines), `drop` (close without answering),
`badgzip` (400 without line numbers, as for a body that is not valid gzip),
`hang` (never answer), `500`, `401`, `429:N` / `503:N` (with Retry-After: N),
`413>K` (413 while a batch has more than K lines; the step stays until one passes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REQUIRED = ("seq", "ts", "level", "event")
LEVELS = {"debug", "info", "warning", "error", "critical"}


class State:
    """The plan, its cursor and what was stored, shared by the handler threads."""

    def __init__(self, directory: Path, plan: list[str], token: str | None) -> None:
        self.directory = directory
        self.plan = plan
        self.token = token
        self.step = 0
        self.seen: set[int] = set()
        self.lock = threading.Lock()

    def next_step(self) -> str:
        """The step for this request; `413>K` steps are advanced by the handler."""
        with self.lock:
            step = self.plan[min(self.step, len(self.plan) - 1)]
            if not step.startswith("413>"):
                self.step += 1
            return step

    def advance(self) -> None:
        """Move past a conditional step."""
        with self.lock:
            self.step += 1

    def log(self, line: str) -> None:
        """Append one line to requests.log."""
        with self.lock, (self.directory / "requests.log").open("a") as out:
            out.write(line + "\n")


def check_record(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """The record of one NDJSON line, or None and why it is invalid."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(record, dict):
        return None, "not an object"
    for key in REQUIRED:
        if key not in record:
            return None, f"missing {key}"
    if not isinstance(record["seq"], int) or isinstance(record["seq"], bool):
        return None, "seq is not an integer"
    if record["level"] not in LEVELS:
        return None, "bad level"
    for key, value in record.items():
        if isinstance(value, dict | list) or value is None:
            return None, f"field {key} is not flat"
    return record, ""


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `state`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            encoding = self.headers.get("Content-Encoding", "identity")
            body = gzip.decompress(raw) if encoding == "gzip" else raw
            lines = [line for line in body.split(b"\n") if line]
            step = state.next_step()
            status, duplicates = self.answer(step, lines)
            state.log(f"{step} {status} lines={len(lines)} dup={duplicates} enc={encoding}")

        def answer(self, step: str, lines: list[bytes]) -> tuple[int, int]:
            if step == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return 0, 0
            if step == "hang":
                time.sleep(600)
                return 0, 0
            if step == "badgzip":
                self.reply(400, {"error": "body is not valid gzip"}, {})
                return 400, 0
            if step in ("500", "401"):
                self.reply(int(step), {"error": "scripted"}, {})
                return int(step), 0
            if step.startswith(("429:", "503:")):
                code, wait = step.split(":")
                self.reply(int(code), {"error": "busy"}, {"Retry-After": wait})
                return int(code), 0
            if step.startswith("413>"):
                if len(lines) > int(step[4:]):
                    self.reply(413, {"error": "too large"}, {})
                    return 413, 0
                state.advance()
            if state.token and self.headers.get("Authorization") != f"Bearer {state.token}":
                self.reply(401, {"error": "bad token"}, {})
                return 401, 0
            if self.headers.get("Content-Type") != "application/x-ndjson":
                self.reply(415, {"error": "bad content type"}, {})
                return 415, 0
            return self.store(lines)

        def store(self, lines: list[bytes]) -> tuple[int, int]:
            accepted = duplicates = 0
            errors = []
            with state.lock, (state.directory / "stored.ndjson").open("ab") as out:
                for number, line in enumerate(lines, start=1):
                    record, error = check_record(line)
                    if record is None:
                        errors.append({"line": number, "error": error})
                    elif record["seq"] in state.seen:
                        duplicates += 1
                    else:
                        state.seen.add(record["seq"])
                        out.write(line + b"\n")
                        accepted += 1
            body: dict[str, Any] = {"accepted": accepted, "duplicates": duplicates}
            if errors:
                body["errors"] = errors
                self.reply(400, body, {})
                return 400, duplicates
            self.reply(200, body, {})
            return 200, duplicates

    return Handler


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--plan", default="ok")
    parser.add_argument("--token")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    state = State(args.dir, args.plan.split(","), args.token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    (args.dir / "port.tmp").write_text(str(server.server_address[1]))
    (args.dir / "port.tmp").rename(args.dir / "port")
    server.serve_forever()


if __name__ == "__main__":
    main()
