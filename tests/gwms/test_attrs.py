"""GlideinWMS `<attr>` conversion (aglidein.gwms.attrs): int/string/expr typing, constant
expressions folded to values, later attrs overriding earlier ones, and what is reported."""

from __future__ import annotations

from aglidein.gwms.attrs import convert_attrs, parse_int
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import XmlNode


def attr(line: int, **attrs: str) -> XmlNode:
    return XmlNode("attr", dict(attrs), "factory.xml", line)


def test_parse_int() -> None:
    assert parse_int("10") == 10
    assert parse_int(" 10 ") == 10
    assert parse_int("10.0") == 10
    assert parse_int("-3") == -3
    assert parse_int("10.5") is None
    assert parse_int("ten") is None
    assert parse_int(None) is None


def test_types_and_values() -> None:
    report = ImportReport()
    out = convert_attrs(
        [
            attr(1, name="GLIDEIN_CPUS", value="8", type="int"),
            attr(2, name="GLIDEIN_Site", value="Nebraska", type="string"),
            attr(3, name="Untyped", value="x"),
            attr(4, name="Mem", value="2048.0", type=" INT "),
        ],
        "entry e",
        report,
    )
    assert out.values == {
        "GLIDEIN_CPUS": 8,
        "GLIDEIN_Site": "Nebraska",
        "Untyped": "x",
        "Mem": 2048,
    }
    assert out.types == {
        "GLIDEIN_CPUS": "num",
        "GLIDEIN_Site": "str",
        "Untyped": "str",
        "Mem": "num",
    }
    assert out.expressions == {}
    assert report.findings == []


def test_bad_int_is_kept_as_a_string_with_a_warning() -> None:
    report = ImportReport()
    out = convert_attrs([attr(7, name="N", value="lots", type="int")], "entry e", report)
    assert out.values == {"N": "lots"}
    assert out.types == {"N": "str"}
    [finding] = report.warnings
    assert finding.where == "factory.xml:7"
    assert finding.subject == "entry e"
    assert "type int" in finding.message
    assert "'lots'" in finding.message


def test_constant_expressions_become_values() -> None:
    report = ImportReport()
    out = convert_attrs(
        [
            attr(1, name="B", value="True", type="expr"),
            attr(2, name="S", value='"abc"', type="expr"),
            attr(3, name="N", value="2 + 3", type="expr"),
            attr(4, name="F", value="1.5", type="expr"),
        ],
        "entry e",
        report,
    )
    assert out.values == {"B": True, "S": "abc", "N": 5, "F": 1.5}
    assert out.types == {"B": "bool", "S": "str", "N": "num", "F": "num"}
    assert report.findings == []


def test_non_constant_expressions_are_kept_aside() -> None:
    report = ImportReport()
    out = convert_attrs(
        [
            attr(1, name="Ref", value="TARGET.Memory > 100", type="expr"),
            attr(2, name="Bad", value="(((", type="expr"),
            attr(3, name="Undef", value="undefined", type="expr"),
        ],
        "entry e",
        report,
    )
    assert out.values == {}
    assert out.types == {}
    assert out.expressions == {"Ref": "TARGET.Memory > 100", "Bad": "(((", "Undef": "undefined"}
    assert len(report.warnings) == 3
    assert all("gwms.expr_attrs" in f.message for f in report.warnings)


def test_later_attr_overrides_earlier_of_any_kind() -> None:
    report = ImportReport()
    out = convert_attrs(
        [
            attr(1, name="X", value="MY.y", type="expr"),
            attr(2, name="X", value="4", type="int"),
            attr(3, name="Y", value="1", type="int"),
            attr(4, name="Y", value="Target.z", type="expr"),
        ],
        "entry e",
        report,
    )
    assert out.values == {"X": 4}
    assert out.types == {"X": "num"}
    assert out.expressions == {"Y": "Target.z"}


def test_missing_name_or_value_is_skipped_and_odd_type_noted() -> None:
    report = ImportReport()
    out = convert_attrs(
        [
            attr(1, value="1"),
            attr(2, name="NoValue"),
            attr(3, name="Odd", value="v", type="float"),
        ],
        "entry e",
        report,
    )
    assert out.values == {"Odd": "v"}
    assert out.types == {"Odd": "str"}
    messages = [(f.severity, f.where, f.message) for f in report.findings]
    assert messages[0] == ("warning", "factory.xml:1", "<attr> without a name: skipped")
    assert messages[1] == ("warning", "factory.xml:2", "attr NoValue has no value: skipped")
    assert messages[2][0:2] == ("note", "factory.xml:3")
    assert "'float'" in messages[2][2]
