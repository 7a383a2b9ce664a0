"""What the demo shows while it runs: a live rich table on a terminal, else one
progress line every few seconds; and the summary at the end."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from aglidein.demo.checks import Check, DemoChecks
from aglidein.demo.setup import DemoSetup
from aglidein.statusview import entry_rows, status_renderable

__all__ = [
    "Moment",
    "ProgressLines",
    "checks_text",
    "intro",
    "live_view",
    "moment_renderable",
    "progress_line",
    "self_command",
    "summary",
]


@dataclass(frozen=True)
class Moment:
    """One look at the running demo."""

    elapsed: float  # wall seconds since the daemon was ready
    simulated: float  # simulated seconds over the same span
    status: Mapping[str, Any]  # the /api/v1/status document
    checks: DemoChecks
    base_url: str = ""


def intro(setup: DemoSetup, speed: float, duration: float | None) -> list[str]:
    """The lines printed once the daemon is up: where to look."""
    url = setup.base_url
    run = f"for {_span(duration)}" if duration else "until Ctrl-C"
    return [
        f"aglidein demo: a simulated pool, clock x{speed:g}, running {run}",
        f"  viewer   {url}/             (pilot logs: search, follow a glidein live)",
        f"  entries  {url}/entries      (status pages: every entry, its history charts)",
        f"  status   {url}/api/v1/status",
        f"  metrics  {url}/metrics",
        f"  state    {setup.state_dir}  (config: {setup.config_file.name}, daemon log: aglidein.log)",
        f"  try      {self_command()} status --config {setup.config_file}",
    ]


def self_command() -> str:
    """How to call aglidein from another shell: by name if it is on PATH."""
    if shutil.which("aglidein"):
        return "aglidein"
    script = Path(sys.argv[0])
    if script.name == "aglidein" and script.exists():
        return str(script.resolve())
    return f"{sys.executable} -m aglidein"


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _checks_line(checks: DemoChecks) -> Text:
    return checks_text(checks.results())


def checks_text(results: list[Check]) -> Text:
    """`checks: ok a · ... b`: each check, green once it held."""
    text = Text("checks: ")
    for index, check in enumerate(results):
        if index:
            text.append(" · ")
        text.append("ok " if check.ok else "... ", style="green" if check.ok else "yellow")
        text.append(check.name)
    return text


def moment_renderable(moment: Moment) -> RenderableType:
    """The live view: time, checks so far, then the status tables."""
    url = moment.base_url
    head = Text.assemble(
        (f"{moment.elapsed:5.0f} s", "bold"),
        f" wall, {_span(moment.simulated)} simulated   viewer {url}/  ",
        f"metrics {url}/metrics  status {url}/api/v1/status   Ctrl-C stops",
    )
    return Group(head, _checks_line(moment.checks), status_renderable(moment.status))


def live_view(console: Console) -> Live:
    """A Live display refreshed by the caller (no refresh thread)."""
    return Live(console=console, auto_refresh=False, transient=False, redirect_stderr=False)


class ProgressLines:
    """`--no-tty`: one line every `every` seconds."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console = console
        self.every = every
        self._next = 0.0

    def show(self, moment: Moment) -> None:
        """Print a line when one is due."""
        if moment.elapsed < self._next:
            return
        self._next = moment.elapsed + self.every
        self.console.print(progress_line(moment), highlight=False, markup=False, soft_wrap=True)


def progress_line(moment: Moment) -> str:
    """One line: cycle, glideins by state, submissions, backoffs, pilot logs."""
    rows = entry_rows(moment.status)
    cycle = moment.status.get("factory", {}).get("cycle", {}).get("number", 0)
    idle = sum(r["idle"] for r in rows)
    running = sum(r["running"] for r in rows)
    held = sum(r["held"] for r in rows)
    demand = sum(r["demand"] for r in rows)
    backoff = [r["entry"] for r in rows if r["health"] == "backoff"] or ["none"]
    checks = moment.checks
    pilots = checks.pilots
    return (
        f"[{moment.elapsed:3.0f}s | sim +{moment.simulated / 60:.0f}m] cycle {cycle}: "
        f"demand {demand}, glideins idle {idle} running {running} held {held}; "
        f"submitted {sum(checks.submitted.values())} to {len(checks.submitted)} entries; "
        f"in backoff: {', '.join(backoff)}; "
        f"pilots logged {len(pilots.started)}, records {pilots.records}"
    )


def summary(
    checks: DemoChecks, *, elapsed: float, simulated: float, cycles: int, how: str
) -> list[str]:
    """The closing report: how it ended, then every check."""
    results: list[Check] = checks.results()
    lines = [
        "",
        f"demo summary: {how} after {elapsed:.0f} s ({_span(simulated)} simulated, "
        f"{cycles} cycles)",
    ]
    for check in results:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"  [{mark}] {check.name}: {check.detail}")
    failed = [c.name for c in results if not c.ok]
    if failed:
        lines.append(f"{len(failed)} check(s) failed: {'; '.join(failed)}")
    else:
        lines.append("all checks held")
    return lines
