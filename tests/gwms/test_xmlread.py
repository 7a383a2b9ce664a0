"""XML reading: line numbers on elements, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from aglidein.errors import AglideinError
from aglidein.gwms.xmlread import GwmsError, parse_bool, parse_xml_text, read_xml


def test_elements_know_their_file_and_line() -> None:
    root = parse_xml_text(
        '<glidein>\n  <entries>\n    <entry name="a"/>\n  </entries>\n</glidein>', "f.xml"
    )
    node = root.path("entries", "entry")
    assert node is not None
    assert (node.source, node.line, node.attrs) == ("f.xml", 3, {"name": "a"})
    assert node.where == "f.xml:3"


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("<glidein>\n<entries>\n<entry name='a'>\n</entrys>\n</glidein>", 4, "mismatched tag"),
        ("<glidein>\n<entries>\n", 3, "no element found"),
        ('<glidein>\n\n<entry name="a" name="b"/>\n</glidein>', 3, "duplicate attribute"),
        ("<glidein>\n<entry name=a/>\n</glidein>", 2, "not well-formed"),
        ("", 1, "no element found"),
        ("<a></a>\n<b></b>", 2, "junk after document element"),
    ],
)
def test_malformed_xml_names_file_and_line(text: str, line: int, what: str) -> None:
    with pytest.raises(GwmsError) as info:
        parse_xml_text(text, "Dev_Sites.xml")
    message = str(info.value)
    assert message.startswith(f"Dev_Sites.xml:{line}: not well-formed XML")
    assert what in message


def test_missing_and_unreadable_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(GwmsError, match=r"nope\.xml: no such file"):
        read_xml(tmp_path / "nope.xml")
    with pytest.raises(GwmsError, match="is a directory"):
        read_xml(tmp_path)
    assert issubclass(GwmsError, AglideinError)  # the CLI turns it into exit 1


def test_encoding_declaration_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.xml"
    path.write_bytes(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<glidein n="é"/>'.encode("latin-1")
    )
    assert read_xml(path).attrs == {"n": "é"}


def test_glideinwms_booleans_read_in_any_case() -> None:
    assert parse_bool("True", False) is True
    assert parse_bool(" false ", True) is False
    assert parse_bool(None, True) is True
    assert parse_bool("maybe", True) is None
