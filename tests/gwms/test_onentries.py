"""The factory's per_frontends and allow_frontends, read with the imported frontend's name,
become the entries' group_limits and allow_groups."""

from __future__ import annotations

from pathlib import Path

from tests.gwms.helpers import attr, entry, factory, frontend, messages, run_import
from tests.gwms.test_groups import group

SITE = attr("GLIDEIN_Site", "SiteA")


def _max_jobs(per_frontends: str) -> str:
    return f"<max_jobs><per_frontends>{per_frontends}</per_frontends></max_jobs>"


def test_per_frontend_of_the_frontend_becomes_group_limits(tmp_path: Path) -> None:
    per = (
        '<per_frontend name="fe:frontend" glideins="40" idle="7" held="3"/>'
        '<per_frontend name="other:x" glideins="1"/>'
    )
    entries = factory(entry("A", attrs=SITE, config=_max_jobs(per)))
    config, result = run_import(tmp_path, entries, frontend=frontend(group(config=">")))
    limits = config.entry("A").group_limits["main"]
    assert (limits.max_glideins, limits.max_idle, limits.max_held) == (40, 7, 3)
    text = messages(result)
    assert "per_frontend fe imported as group_limits" in text
    assert "per_frontends of other frontends not imported: ['other:x']" in text


def test_per_frontend_with_several_groups_caps_each_and_says_so(tmp_path: Path) -> None:
    per = '<per_frontend name="fe" glideins="40"/>'
    entries = factory(entry("A", attrs=SITE, config=_max_jobs(per)))
    groups = group("one", config=">") + group("two", config=">")
    config, result = run_import(tmp_path, entries, frontend=frontend(groups))
    assert {g: v.max_glideins for g, v in config.entry("A").group_limits.items()} == {
        "one": 40,
        "two": 40,
    }
    assert "GlideinWMS caps the groups' sum; aglidein caps each group" in messages(result)


def test_allow_frontends_without_the_frontend_serves_no_group(tmp_path: Path) -> None:
    allow = '<allow_frontends><allow_frontend name="other" security_class="x"/></allow_frontends>'
    allowed = '<allow_frontends><allow_frontend name="fe" security_class="x"/></allow_frontends>'
    entries = factory(entry("A", attrs=SITE, extra="", config=""), entry("B", attrs=SITE))
    entries = entries.replace("</entry>", f"{allow}</entry>", 1).replace(
        "</entry>\n</entries>", f"{allowed}</entry>\n</entries>"
    )
    config, result = run_import(tmp_path, entries, frontend=frontend(group(config=">")))
    assert config.entry("A").allow_groups == []
    assert not config.entry("A").allows("main")
    assert config.entry("B").allow_groups is None
    assert "allow_frontends ['other'] does not name frontend fe" in messages(result)


def test_without_a_frontend_file_they_are_reported(tmp_path: Path) -> None:
    per = '<per_frontend name="fe" glideins="40"/>'
    config, result = run_import(tmp_path, factory(entry("A", attrs=SITE, config=_max_jobs(per))))
    assert config.entry("A").group_limits == {}
    assert "per_frontends not imported: without the frontend file" in messages(result)


def test_the_import_runs_beside_the_old_factory(tmp_path: Path) -> None:
    entries = factory(
        entry("A", attrs=SITE), entry("B b", attrs=SITE), root='factory_name="gfactory1"'
    )
    config, result = run_import(tmp_path, entries, frontend=frontend(group(config=">")))
    assert config.migration.gwms_factory == "gfactory1"
    assert config.old_entry_names() == {"A": "A", "B b": "B_b"}
    assert "its glideins in the collector count against the entries' limits" in result.text
