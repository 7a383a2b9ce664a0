"""`make bench`: run every benchmark in bench/ in turn; each prints its own figures.

Benchmarks never assert timings; this runner only reports which ones failed to run.
Pass names to run a subset: `python bench/run_all.py plan ingest`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def benchmarks() -> list[Path]:
    """bench/*.py (but this file) and bench/<dir>/run.py."""
    found = [p for p in sorted(BENCH.glob("*.py")) if p.name not in ("run_all.py", "__init__.py")]
    found += sorted(BENCH.glob("*/run.py"))
    return found


def main(argv: list[str]) -> int:
    selected = [b for b in benchmarks() if not argv or any(a in str(b) for a in argv)]
    failed = []
    for script in selected:
        print(f"\n=== {script.relative_to(BENCH.parent)} ===", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"--- {script.name}: exit {result.returncode} in {time.monotonic() - started:.1f}s")
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"benchmarks that did not run to the end: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
