"""Several factory files: later files override entries of the same name, as GlideinWMS does."""

from __future__ import annotations

from pathlib import Path

import pytest

from aglidein.gwms import GwmsError
from tests.gwms.helpers import attr, entry, factory, messages, run_import


def test_a_later_file_replaces_the_whole_entry(tmp_path: Path) -> None:
    first = factory(
        entry("A", attrs=attr("GLIDEIN_Site", "Old") + attr("ONLY_OLD", "x")),
        entry("B", attrs=attr("GLIDEIN_Site", "B")),
    )
    second = factory(
        entry("A", gatekeeper="new.org new.org:9619", attrs=attr("GLIDEIN_Site", "New"))
    )
    third = factory(entry("C", enabled="False"))
    config, result = run_import(tmp_path, first, second, third)
    assert [e.name for e in config.entries] == ["A", "B", "C"]
    a = config.entry("A")
    assert a.gatekeeper == "new.org new.org:9619"
    assert a.attrs == {"GLIDEIN_Site": "New"}  # replaced, not merged: ONLY_OLD is gone
    assert "f1.xml:3: note: entry A: overrides the entry at " in messages(result)
    assert "# from " in result.text
    assert "f1.xml:3 (overrides " in result.text


def test_the_order_of_files_decides(tmp_path: Path) -> None:
    one = factory(entry("A", attrs=attr("GLIDEIN_Site", "One")))
    two = factory(entry("A", attrs=attr("GLIDEIN_Site", "Two")))
    first = tmp_path / "x"
    first.mkdir()
    config, _ = run_import(first, one, two)
    assert config.entry("A").attrs["GLIDEIN_Site"] == "Two"
    other = tmp_path / "y"
    other.mkdir()
    config, _ = run_import(other, two, one)
    assert config.entry("A").attrs["GLIDEIN_Site"] == "One"


def test_global_attrs_of_later_files_override_and_reach_every_entry(tmp_path: Path) -> None:
    main = f"<glidein><attrs>{attr('USE_CCB', 'True')}{attr('X', '1')}</attrs></glidein>"
    later = f"<glidein><attrs>{attr('X', '2')}</attrs><entries>{entry('E')}</entries></glidein>"
    config, _ = run_import(tmp_path, main, later)
    assert config.entry("E").attrs == {"USE_CCB": "True", "X": "2"}


def test_a_file_without_entries_is_valid(tmp_path: Path) -> None:
    tarballs = (
        '<glidein><condor_tarballs><condor_tarball arch="x86_64" os="rhel9" version="23.0" '
        'base_dir="/opt/condor"/></condor_tarballs></glidein>'
    )
    config, result = run_import(tmp_path, tarballs)
    assert config.entries == []
    assert result.summary.entries == 0
    assert "f0.xml:1: note: no entries in this file" in messages(result)
    assert "condor_tarball" in messages(result)


def test_an_entry_defined_twice_in_one_file_is_reported(tmp_path: Path) -> None:
    text = factory(entry("A", attrs=attr("N", "1")), entry("A", attrs=attr("N", "2")))
    config, result = run_import(tmp_path, text)
    assert config.entry("A").attrs == {"N": "2"}
    assert "defined twice" in messages(result)


def test_a_frontend_file_given_as_factory_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GwmsError, match=r"f0.xml:1: not a GlideinWMS factory file.*--frontend"):
        run_import(tmp_path, "<frontend/>")


def test_a_factory_file_given_as_frontend_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GwmsError, match=r"frontend.xml:1: not a GlideinWMS frontend file"):
        run_import(tmp_path, factory(entry("A")), frontend="<glidein/>")
