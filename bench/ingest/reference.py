"""The minimal reference receiver for the ingest benchmark: uvicorn + orjson + SQLite
executemany, no auth, no deduplication, no index, no validation beyond JSON."""

from __future__ import annotations

import sqlite3
import sys

import orjson
import uvicorn

DB: sqlite3.Connection


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
    """POST: store every line as a row; answer with the count."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    rows = []
    for line in body.split(b"\n"):
        if line:
            record = orjson.loads(line)
            rows.append((record["seq"], record["ts"], record["level"], record["event"], line))
    with DB:
        DB.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
    payload = orjson.dumps({"accepted": len(rows)})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    """`reference.py PORT DB_PATH`."""
    global DB
    port, path = int(sys.argv[1]), sys.argv[2]
    DB = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    DB.execute("PRAGMA journal_mode = WAL")
    DB.execute("PRAGMA synchronous = NORMAL")
    DB.execute(
        "CREATE TABLE IF NOT EXISTS records (seq INTEGER, ts TEXT, level TEXT, event TEXT,"
        " line BLOB)"
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
