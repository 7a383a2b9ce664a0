"""aglidein.services.pages_html: the status pages' HTML escapes operator input and links with the token."""

from __future__ import annotations

from aglidein.services.pages_data import Accounting, EntriesPage, EntryRow, TotalRow
from aglidein.services.pages_html import (
    EXIT_COLOURS,
    denied_html,
    entries_html,
    entry_html,
    error_html,
    exit_colours,
    total_html,
)
from aglidein.store.history import RANGES, HistorySample

T0 = 1_800_000_000.0
EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def _row(entry: str = "CE/A b", **changes: object) -> EntryRow:
    fields: dict[str, object] = {
        "entry": entry,
        "health": "downtime",
        "reason": EVIL,
        "until": "2027-01-15T08:00:00Z",
        "demand": 40,
        "requested": 5,
        "idle": 2,
        "running": 7,
        "held": 1,
        "black_hole": 3,
        "limited_by": ("backoff", EVIL),
        "last_submit": None,
        "exits_hour": {"ok": 1, "held": 0},
        "exits_day": {EVIL: 2},
        "accounting": None,
    }
    fields.update(changes)
    return EntryRow(**fields)  # type: ignore[arg-type]


def _total(name: str) -> TotalRow:
    return TotalRow(name, 40, 5, 2, 7, 1, 3, {}, {"ok": 4})


def test_exit_colours_ok_green_and_others_sorted() -> None:
    colours = exit_colours(["held", "ok", "black_hole", "held"])
    assert colours == {
        "black_hole": EXIT_COLOURS[1],
        "held": EXIT_COLOURS[2],
        "ok": EXIT_COLOURS[0],
    }
    assert exit_colours([]) == {}
    many = exit_colours(f"r{i}" for i in range(10))
    assert all(c != EXIT_COLOURS[0] for c in many.values())


def test_entries_page_escapes_operator_text() -> None:
    page = EntriesPage(
        factory_name=EVIL,
        cycle=12,
        cycle_at="2026-12-07T07:20:09.5Z",
        entries=(_row(),),
        groups=(_total(EVIL),),
        factory=_total(""),
    )
    html = entries_html(page)
    assert "<script" not in html
    assert html.count(ESCAPED) >= 5  # factory name, reason, limited_by, exits, group
    assert '<td class="num demand">40</td>' in html
    assert '<td class="exits-1h">ok 1</td>' in html  # zero counts are left out
    assert '<time datetime="2026-12-07T07:20:09.5Z">2026-12-07 07:20:09Z</time>' in html
    assert (
        '<tr class="factory" data-group=""><th scope="row"><a class="total-link" href="/factory">factory</a></th>'
        in html
    )
    assert "glidein h" not in html  # no accounting columns without accounting


def test_entries_page_links_carry_the_token_and_quote_the_entry() -> None:
    page = EntriesPage("f", 1, None, (_row(),), (), _total(""))
    html = entries_html(page, token="t&k")
    assert 'href="/entries/CE%2FA%20b?access_token=t%26k"' in html
    assert 'href="/?entry=CE%2FA+b&amp;access_token=t%26k"' in html
    assert 'href="/api/v1/entries?access_token=t%26k"' in html
    bare = entries_html(page)
    assert 'href="/entries/CE%2FA%20b"' in bare
    assert "access_token" not in bare


def test_accounting_columns() -> None:
    acc = Accounting(glidein_hours=1.26, job_hours=0.5, badput_hours=0.76, validation_failures=2)
    page = EntriesPage("f", 1, None, (_row(accounting=acc),), (), _total(""), with_accounting=True)
    html = entries_html(page)
    assert "<th>glidein h</th>" in html
    assert '<td class="num">1.3</td><td class="num">0.5</td><td class="num">0.8</td>' in html


def test_entry_page_ranges_and_charts() -> None:
    span = RANGES["24h"]
    samples = [
        HistorySample(T0 - 600, 1, 2, 0, 0, 3, 1, 1, {"ok": 1, EVIL: 1}),
        HistorySample(T0 - 300, 2, 2, 0, 0, 3, 1, 0, {}),
    ]
    html = entry_html(_row(entry=EVIL), span, samples, T0, token="tok")
    assert "<script" not in html
    assert f'<h2 id="entry-name">{ESCAPED}</h2>' in html
    assert '<a class="range current" href="/entries/' in html
    assert "range=24h&amp;access_token=tok" in html
    assert html.count('<figure class="chart-box">') == 3
    assert f"(2 points, one per {span.resolution // 60} min)" in html
    assert 'data-range="24h"' in html


def test_group_and_factory_pages_show_their_totals_and_charts() -> None:
    span = RANGES["1h"]
    samples = [HistorySample(T0 - 120, 1, 2, 0, 0, 3, 1, 1, {"ok": 1})]
    group = total_html(_total(EVIL), "f1", span, samples, T0, token="tok")
    assert "<script" not in group
    assert f'<h2 id="total-name">group {ESCAPED}</h2>' in group
    assert '<a class="range current" href="/groups/%3Cscript%3E' in group
    assert group.count('<figure class="chart-box">') == 3
    factory = total_html(_total(""), "f1", span, samples, T0)
    assert '<h2 id="total-name">factory f1</h2>' in factory
    assert 'href="/factory?range=7d"' in factory


def test_the_totals_link_to_their_pages() -> None:
    page = EntriesPage("f1", 3, None, (_row(),), (_total("a b"),), _total(""))
    html = entries_html(page, token="tok")
    assert '<a class="total-link" href="/groups/a%20b?access_token=tok">a b</a>' in html
    assert '<a class="total-link" href="/factory?access_token=tok">factory</a>' in html


def test_error_page_escapes_and_does_not_refresh() -> None:
    html = error_html(400, EVIL)
    assert f'<p class="error" id="error">400: {ESCAPED}</p>' in html
    assert "http-equiv" not in html
    assert "http-equiv" in entries_html(EntriesPage("f", 1, None, (), (), _total("")))


def test_a_refused_page_says_how_to_sign_in_and_escapes_the_way_back() -> None:
    page = denied_html(401, "read bearer token required", f"/entries/{EVIL}", sign_in=True)
    assert "<script>" not in page
    assert 'http-equiv="refresh"' not in page  # no reloading into the same refusal
    assert '<a id="sign-in-link" href="/?next=%2Fentries%2F%3Cscript%3E' in page
    assert "log viewer" in page
    assert "?access_token=TOKEN" in page
    assert 'id="sign-in"' not in denied_html(403, "localhost only", "/entries", sign_in=False)
