"""`make bench`: run every benchmark in bench/ in turn; each prints its own figures, and
at the end the rows of issue #16's table (`BENCH-ROW` lines), each beside the yardstick
it was measured against in the same run.

Benchmarks never assert timings; this runner only reports which ones failed to run.
Pass names to run a subset: `python bench/run_all.py plan ingest`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROW = "BENCH-ROW "
COLUMNS = ("measure", "ours", "peer", "ratio", "target")


def benchmarks() -> list[Path]:
    """bench/*.py (but this file), bench/<dir>/run.py and the live-tail benchmark."""
    found = [p for p in sorted(BENCH.glob("*.py")) if p.name not in ("run_all.py", "__init__.py")]
    found += sorted(BENCH.glob("*/run.py"))
    found.append(BENCH / "ingest" / "tails.py")
    return found


def run(script: Path) -> tuple[int, list[dict[str, object]]]:
    """Run one benchmark, its output passed through; (exit status, its table rows)."""
    rows: list[dict[str, object]] = []
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(ROW):
                rows.append(json.loads(line[len(ROW) :]))
            else:
                print(line, end="", flush=True)
    return process.returncode, rows


def load() -> str:
    """The load average, to say how busy the machine was."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table, with whether each target was met ("-": no target)."""
    lines = ["| " + " | ".join((*COLUMNS, "met")) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in rows:
        met = row.get("met")
        cells = [str(row[c]) for c in COLUMNS] + ["-" if met is None else "yes" if met else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the selected benchmarks, then print the summary table."""
    selected = [b for b in benchmarks() if not argv or any(a in str(b) for a in argv)]
    failed = []
    rows: list[dict[str, object]] = []
    print(f"bench/run_all.py: {load()} at the start", flush=True)
    for script in selected:
        print(f"\n=== {script.relative_to(BENCH.parent)} ===", flush=True)
        started = time.monotonic()
        status, found = run(script)
        rows += found
        print(f"--- {script.name}: exit {status} in {time.monotonic() - started:.1f}s")
        if status != 0:
            failed.append(script.name)
    print(f"\nissue #16's table, each row measured beside its yardstick in this run ({load()}):")
    print(table(rows) if rows else "(no benchmark of the table ran)")
    if failed:
        print(f"benchmarks that did not run to the end: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
