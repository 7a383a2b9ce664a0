"""The status pages as HTML: pure functions of the page data. Every value that came from
operators or the pool (entry and group names, reasons, comments) is escaped; the markup
has no script and no inline style (the Content-Security-Policy allows neither)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from urllib.parse import quote, urlencode

from aglidein.services.auth import SESSION_LIFETIME_S
from aglidein.services.charts import ChartSeries, line_chart
from aglidein.services.pages_data import Accounting, EntriesPage, EntryRow, TotalRow
from aglidein.store.history import RANGES, HistoryRange, HistorySample

__all__ = [
    "EXIT_COLOURS",
    "STATE_COLOURS",
    "denied_html",
    "entries_html",
    "entry_html",
    "error_html",
    "exit_colours",
    "total_html",
    "total_path",
]

STATE_COLOURS = {
    "idle": "#1f77b4",
    "running": "#2ca02c",
    "held": "#d62728",
    "black_hole": "#9467bd",
    "demand": "#ff7f0e",
    "requested": "#17becf",
    "submitted": "#8c564b",
}
EXIT_COLOURS = ("#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_ACCOUNTING_HEAD = "<th>glidein h</th><th>job h</th><th>badput h</th><th>validation failures</th>"


def exit_colours(reasons: Iterable[str]) -> dict[str, str]:
    """A colour for each exit reason: `ok` green, the others in sorted order."""
    names = sorted(set(reasons))
    others = [r for r in names if r != "ok"]
    colours = {r: EXIT_COLOURS[1 + i % (len(EXIT_COLOURS) - 1)] for i, r in enumerate(others)}
    if "ok" in names:
        colours["ok"] = EXIT_COLOURS[0]
    return dict(sorted(colours.items()))


def _when(iso: str | None) -> str:
    """An ISO time as `2026-12-07 07:20:09Z` (the full value in the title)."""
    if not iso:
        return "—"
    return f'<time datetime="{escape(iso)}">{escape(iso[:19].replace("T", " "))}Z</time>'


def _link(path: str, token: str | None, **params: str) -> str:
    """A same-site URL; the read token rides along when the page was opened with one."""
    query = {k: v for k, v in params.items() if v}
    if token:
        query["access_token"] = token
    return escape(path + ("?" + urlencode(query) if query else ""))


REFRESH_S = 60  # the pages reload themselves (the same URL) this often


def _page(title: str, body: str, token: str | None, refresh: bool = True) -> str:
    again = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{again}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/pages.css"></head>'
        f"<body><header><h1>aglidein <span>{escape(title)}</span></h1><nav>"
        f'<a href="{_link("/entries", token)}">entries</a> '
        f'<a href="{_link("/", token)}">logs</a> '
        f'<a href="{_link("/api/v1/entries", token)}">JSON</a></nav></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _exits(counts: Mapping[str, int]) -> str:
    shown = [f"{escape(r)} {n}" for r, n in sorted(counts.items()) if n]
    return " · ".join(shown) if shown else "—"


def _accounting_cells(acc: Accounting | None) -> str:
    if acc is None:
        return ""
    return (
        f'<td class="num">{acc.glidein_hours:.1f}</td><td class="num">{acc.job_hours:.1f}</td>'
        f'<td class="num">{acc.badput_hours:.1f}</td>'
        f'<td class="num">{acc.validation_failures}</td>'
    )


def _health_cell(row: EntryRow) -> str:
    text = escape(row.health)
    if row.reason:
        text += f": {escape(row.reason)}"
    if row.until:
        text += f" <small>until {_when(row.until)}</small>"
    return f'<td class="health health-{escape(row.health)}">{text}</td>'


def _counts(row: EntryRow | TotalRow) -> str:
    return "".join(
        f'<td class="num {cls}">{value}</td>'
        for cls, value in (
            ("demand", row.demand),
            ("requested", row.requested),
            ("idle", row.idle),
            ("running", row.running),
            ("held", row.held),
            ("black-hole", row.black_hole),
        )
    )


def _entry_row(row: EntryRow, token: str | None) -> str:
    name = escape(row.entry)
    return (
        f'<tr data-entry="{name}"><td><a class="entry-link" '
        f'href="{_link("/entries/" + quote(row.entry, safe=""), token)}">{name}</a></td>'
        f"{_health_cell(row)}{_counts(row)}"
        f'<td class="limited">{escape(", ".join(row.limited_by))}</td>'
        f'<td class="last-submit">{_when(row.last_submit)}</td>'
        f'<td class="exits-1h">{_exits(row.exits_hour)}</td>'
        f'<td class="exits-24h">{_exits(row.exits_day)}</td>'
        f"{_accounting_cells(row.accounting)}"
        f'<td><a class="logs-link" href="{_link("/", token, entry=row.entry)}">logs</a></td></tr>'
    )


def total_path(row: TotalRow) -> str:
    """The page of a group's totals (`/groups/NAME`) or the factory's (`/factory`)."""
    return "/groups/" + quote(row.name, safe="") if row.name else "/factory"


def _total_row(row: TotalRow, token: str | None) -> str:
    label = escape(row.name) if row.name else "factory"
    cls = "group" if row.name else "factory"
    link = f'<a class="total-link" href="{_link(total_path(row), token)}">{label}</a>'
    return (
        f'<tr class="{cls}" data-group="{escape(row.name)}"><th scope="row">{link}</th>'
        f"{_counts(row)}"
        f'<td class="exits-1h">{_exits(row.exits_hour)}</td>'
        f'<td class="exits-24h">{_exits(row.exits_day)}</td>'
        f"{_accounting_cells(row.accounting)}</tr>"
    )


def entries_html(page: EntriesPage, token: str | None = None) -> str:
    """`/entries`: a row per entry, then group and factory totals."""
    acc = _ACCOUNTING_HEAD if page.with_accounting else ""
    counts = (
        '<th title="idle jobs matching the entry">demand</th>'
        '<th title="idle glideins wanted">requested</th><th>idle</th><th>running</th>'
        "<th>held</th><th>black hole</th>"
    )
    entries = "".join(_entry_row(r, token) for r in page.entries)
    totals = "".join(_total_row(r, token) for r in (*page.groups, page.factory))
    when = f" at {_when(page.cycle_at)}" if page.cycle_at else ""
    body = (
        f'<p class="meta">factory <b>{escape(page.factory_name)}</b> · cycle '
        f'<span id="cycle">{page.cycle}</span>{when}</p>'
        f'<table id="entries"><thead><tr><th>entry</th><th>health</th>{counts}'
        f"<th>limited by</th><th>last submit</th><th>exits 1 h</th><th>exits 24 h</th>{acc}"
        f"<th></th></tr></thead><tbody>{entries}</tbody></table>"
        "<h2>Groups and factory</h2>"
        f'<table id="totals"><thead><tr><th>group</th>'
        f"{counts.replace('matching the entry', 'of the group')}"
        f"<th>exits 1 h</th><th>exits 24 h</th>{acc}</tr></thead><tbody>{totals}</tbody></table>"
        '<p class="meta">demand of a group or the factory: its idle jobs, each once; '
        "totals are the last cycle's.</p>"
    )
    return _page("entries", body, token)


def _charts(samples: Sequence[HistorySample], span: HistoryRange, now: float) -> list[str]:
    start = now - span.seconds
    gap = span.resolution * 3.5

    def series(name: str, label: str, colour: str) -> ChartSeries:
        return ChartSeries(label, colour, [(s.ts, s.value(name)) for s in samples])

    states = [
        series(k, k.replace("_", " "), STATE_COLOURS[k])
        for k in ("idle", "running", "held", "black_hole")
    ]
    demand = [series(k, k, STATE_COLOURS[k]) for k in ("demand", "requested", "submitted")]
    colours = exit_colours(r for s in samples for r in s.exits)
    exits = [series(f"exits:{r}", r, c) for r, c in colours.items()]
    per = "minute" if span.resolution == 60 else f"{span.resolution // 60} minutes"
    return [
        line_chart("glideins by state", states, start, now, gap=gap),
        line_chart(f"demand, requested idle, submitted (per {per})", demand, start, now, gap=gap),
        line_chart(f"exits by reason (per {per})", exits, start, now, gap=gap),
    ]


def _history(
    path: str, span: HistoryRange, samples: Sequence[HistorySample], now: float, token: str | None
) -> str:
    """The range links (to `path`) and the history charts over `span`."""
    ranges = " ".join(
        f'<a class="range{" current" if r.name == span.name else ""}" '
        f'href="{_link(path, token, range=r.name)}">{r.name}</a>'
        for r in RANGES.values()
    )
    charts = "".join(
        f'<figure class="chart-box">{svg}</figure>' for svg in _charts(samples, span, now)
    )
    return (
        f'<p id="ranges">range: {ranges} <span class="meta">({len(samples)} points, one per '
        f"{span.resolution // 60} min)</span></p>"
        f'<div id="charts" data-range="{escape(span.name)}">{charts}</div>'
    )


_HEAD_COUNTS = (
    "<th>demand</th><th>requested</th><th>idle</th><th>running</th><th>held</th><th>black hole</th>"
)


def entry_html(
    row: EntryRow,
    span: HistoryRange,
    samples: Sequence[HistorySample],
    now: float,
    token: str | None = None,
) -> str:
    """`/entries/NAME`: the entry's row and its history charts over `span`."""
    acc = _ACCOUNTING_HEAD if row.accounting is not None else ""
    summary = (
        f'<table id="entry"><thead><tr><th>entry</th><th>health</th>{_HEAD_COUNTS}'
        f"<th>limited by</th><th>last submit</th><th>exits 1 h</th><th>exits 24 h</th>{acc}"
        f"<th></th></tr></thead><tbody>{_entry_row(row, token)}</tbody></table>"
    )
    history = _history("/entries/" + quote(row.entry, safe=""), span, samples, now, token)
    body = f'<h2 id="entry-name">{escape(row.entry)}</h2>{summary}{history}'
    return _page(f"entry {row.entry}", body, token)


def total_html(
    row: TotalRow,
    factory_name: str,
    span: HistoryRange,
    samples: Sequence[HistorySample],
    now: float,
    token: str | None = None,
) -> str:
    """`/groups/NAME` or `/factory`: the totals row and its history charts over `span`."""
    acc = _ACCOUNTING_HEAD if row.accounting is not None else ""
    kind, name = ("group", row.name) if row.name else ("factory", factory_name)
    summary = (
        f'<table id="totals"><thead><tr><th>{kind}</th>{_HEAD_COUNTS}'
        f"<th>exits 1 h</th><th>exits 24 h</th>{acc}</tr></thead>"
        f"<tbody>{_total_row(row, token)}</tbody></table>"
    )
    note = (
        '<p class="meta">demand: the idle jobs of the group, each once; glideins: the '
        "group's at every entry.</p>"
        if row.name
        else '<p class="meta">demand: every idle job, each once; glideins: every entry\'s.</p>'
    )
    history = _history(total_path(row), span, samples, now, token)
    body = f'<h2 id="total-name">{kind} {escape(name)}</h2>{summary}{note}{history}'
    return _page(f"{kind} {name}", body, token)


def error_html(status: int, message: str, token: str | None = None) -> str:
    """A page saying what was wrong with the request."""
    body = f'<p class="error" id="error">{status}: {escape(message)}</p>'
    return _page("error", body, token, refresh=False)


def denied_html(status: int, message: str, back: str, sign_in: bool) -> str:
    """A refused page (401/403) for a browser; `sign_in`: how to sign in with the read
    token and come back to `back` (this page's path and query)."""
    body = f'<p class="error" id="error">{status}: {escape(message)}</p>'
    if sign_in:
        hours = SESSION_LIFETIME_S // 3600
        body += (
            '<p id="sign-in">This page needs the factory\'s read token. '
            f'<a id="sign-in-link" href="{_link("/", None, next=back)}">Sign in on the log '
            "viewer</a> with it: the viewer opens a session for this browser "
            f"({hours} h) and brings you back here. A link may also carry the token: "
            f"<code>{escape(back.split('?', 1)[0])}?access_token=TOKEN</code>.</p>"
        )
    return _page("sign in" if sign_in else "refused", body, None, refresh=False)
