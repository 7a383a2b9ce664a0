"""`aglidein status --check`: a Nagios plugin answer from a status document, and the
collector / factory schedd rows of `aglidein status`.

Thresholds (what an operator expects to be paged for):

- CRITICAL: the daemon cannot be reached; the collector or the factory schedd did not
  answer the last poll; a credential has expired or cannot be read.
- WARNING: an entry is in backoff; a credential has less life left than its
  `min_lifetime` (the renewer's own threshold) or its last renewal failed; no poll has
  happened yet, or the last one is older than three cycles (the cycle is stuck).
- UNKNOWN: the answer cannot be understood (not a status document, auth refused).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

__all__ = ["CheckResult", "CheckState", "check_status", "pool_rows", "pool_table"]

POOL_SOURCES = (("collector", "collector"), ("factory_schedd", "factory schedd"))
# every factory schedd after the first: `factory_schedd:NAME` in the status's `pool`
OTHER_FACTORY_SCHEDD = "factory_schedd:"


def _sources(pool: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, label) of the pool rows: the collector, then each factory schedd."""
    others = [(k, "factory schedd") for k in pool if k.startswith(OTHER_FACTORY_SCHEDD)]
    return [*POOL_SOURCES, *others]


STALE_CYCLES = 3  # a poll older than this many cycles (plus a minute) is a warning
STALE_GRACE_S = 60.0


class CheckState(enum.IntEnum):
    """Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class CheckResult:
    """The plugin's exit code and its one line."""

    state: CheckState
    problems: tuple[str, ...] = ()
    summary: str = ""

    @property
    def line(self) -> str:
        """`AGLIDEIN OK - ...` (Nagios plugin output)."""
        text = "; ".join(self.problems) if self.problems else self.summary
        return f"AGLIDEIN {self.state.name} - {text}"


class BadStatus(ValueError):
    """A status document that cannot be read."""


def _ts(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadStatus(f"{what} is not a time: {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BadStatus(f"{what} is not a time: {value!r}") from None


def _short(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def check_status(document: Any, now: float) -> CheckResult:
    """The Nagios state and line for a status document read at `now`."""
    try:
        return _check(document, now)
    except (BadStatus, KeyError, TypeError, ValueError, AttributeError) as exc:
        return CheckResult(CheckState.UNKNOWN, summary=f"cannot read the status document: {exc}")


def _check(document: Any, now: float) -> CheckResult:
    if not isinstance(document, Mapping) or not isinstance(document.get("factory"), Mapping):
        raise BadStatus("no factory section")
    critical: list[str] = []
    warning: list[str] = []
    pool = document.get("pool", {})
    if not isinstance(pool, Mapping):
        raise BadStatus("pool is not an object")
    for key, label in _sources(pool):
        source = pool.get(key)
        if source is None:
            warning.append(f"{label} not polled yet")
            continue
        name = source.get("name", "?")
        if not source["ok"]:
            critical.append(f"{label} {name} unreachable: {source.get('last_error') or '?'}")
            continue
        polled = _ts(source.get("last_poll"), f"pool.{key}.last_poll")
        cycle = float(source.get("cycle_s") or 60.0)
        if polled is not None and now - polled > STALE_CYCLES * cycle + STALE_GRACE_S:
            warning.append(f"{label} {name} last polled {_short(now - polled)} ago")
    entries = document.get("entries") or []
    backoff = [e["name"] for e in entries if e.get("health") == "backoff"]
    if backoff:
        warning.append(
            f"{len(backoff)} entr{'y' if len(backoff) == 1 else 'ies'} in backoff: "
            + ", ".join(backoff)
        )
    for credential in document.get("credentials") or []:
        _check_credential(credential, now, critical, warning)
    if critical:
        return CheckResult(CheckState.CRITICAL, tuple(critical + warning))
    if warning:
        return CheckResult(CheckState.WARNING, tuple(warning))
    name = document["factory"].get("name", "?")
    running = sum(int((e.get("glideins") or {}).get("running", 0)) for e in entries)
    return CheckResult(
        CheckState.OK,
        summary=f"{name}: collector and {_schedds(pool)} reachable, {len(entries)} entries ok, "
        f"{running} glideins running, {len(document.get('credentials') or [])} credentials ok",
    )


def _schedds(pool: Mapping[str, Any]) -> str:
    count = 1 + sum(1 for k in pool if k.startswith(OTHER_FACTORY_SCHEDD))
    return "factory schedd" if count == 1 else f"{count} factory schedds"


def _check_credential(
    credential: Mapping[str, Any], now: float, critical: list[str], warning: list[str]
) -> None:
    name = credential["name"]
    expires = _ts(credential.get("expires"), f"credential {name} expires")
    error = credential.get("last_error")
    if expires is None:
        if error:  # unreadable: the renewer could not tell its lifetime
            critical.append(f"credential {name}: {error}")
        return
    left = expires - now
    if left <= 0:
        critical.append(f"credential {name} expired {_short(-left)} ago")
        return
    window = credential.get("warn_before_s")
    if isinstance(window, int | float) and left < window:
        warning.append(f"credential {name} expires in {_short(left)}")
    elif error:
        warning.append(f"credential {name}: {error}")


def pool_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The collector and factory schedd rows (empty before the first poll)."""
    pool = status.get("pool") or {}
    rows = []
    for key, label in _sources(pool):
        source = pool.get(key)
        if isinstance(source, Mapping):
            rows.append({"source": label, **source})
    return rows


def pool_table(status: Mapping[str, Any]) -> Table | None:
    """The `pool` table of `aglidein status`, or None before the first poll."""
    rows = pool_rows(status)
    if not rows:
        return None
    table = Table(title="pool", header_style="bold")
    for column in ("source", "name", "reachable", "last poll", "last ok", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["source"],
            str(row.get("name", "")),
            Text("yes", style="green") if row.get("ok") else Text("no", style="bold red"),
            str(row.get("last_poll") or ""),
            str(row.get("last_ok") or ""),
            str(row.get("last_error") or ""),
        )
    return table
