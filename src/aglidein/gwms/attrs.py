"""GlideinWMS `<attr>` values (type int, string or expr) as aglidein attr values."""

from __future__ import annotations

from dataclasses import dataclass

from aglidein.classad.facade import ERROR, UNDEFINED, ExprSyntaxError, parse_expr
from aglidein.gwms.match import AttrType
from aglidein.gwms.report import ImportReport
from aglidein.gwms.xmlread import XmlNode

__all__ = ["AttrValue", "ConvertedAttrs", "convert_attrs", "parse_int"]

AttrValue = str | int | float | bool


@dataclass
class ConvertedAttrs:
    """Attr values aglidein can hold, their types for match translation, and the rest."""

    values: dict[str, AttrValue]
    types: dict[str, AttrType]
    expressions: dict[str, str]  # GlideinWMS expr attrs that are not constants


def parse_int(text: str | None) -> int | None:
    """An integer from XML text (`"10"`, `" 10 "`, `"10.0"`), or None."""
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _kind(value: AttrValue) -> AttrType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return "str"


def convert_attrs(nodes: list[XmlNode], subject: str, report: ImportReport) -> ConvertedAttrs:
    """`<attr>` elements in override order (later wins) as values and types."""
    out = ConvertedAttrs({}, {}, {})
    for node in nodes:
        name = node.attrs.get("name")
        value = node.attrs.get("value")
        if not name:
            report.warn(node.where, subject, "<attr> without a name: skipped")
            continue
        if value is None:
            report.warn(node.where, subject, f"attr {name} has no value: skipped")
            continue
        out.values.pop(name, None)
        out.types.pop(name, None)
        out.expressions.pop(name, None)
        kind = node.attrs.get("type", "string").strip().lower()
        if kind == "int":
            number = parse_int(value)
            if number is None:
                report.warn(
                    node.where,
                    subject,
                    f"attr {name} type int has value {value!r}: kept as a string",
                )
                out.values[name], out.types[name] = value, "str"
            else:
                out.values[name], out.types[name] = number, "num"
        elif kind == "expr":
            constant = _constant(value)
            if constant is None:
                out.expressions[name] = value
                report.warn(
                    node.where,
                    subject,
                    f"attr {name} is the expression {value!r}, not a constant: aglidein attrs are "
                    "values; kept in gwms.expr_attrs",
                )
            else:
                out.values[name], out.types[name] = constant, _kind(constant)
        else:
            if kind != "string":
                report.note(node.where, subject, f"attr {name} has type {kind!r}: kept as a string")
            out.values[name], out.types[name] = value, "str"
    return out


def _constant(text: str) -> AttrValue | None:
    """The value of a ClassAd expression that references nothing, else None."""
    try:
        expr = parse_expr(text)
    except ExprSyntaxError:
        return None
    mine, theirs = expr.references()
    if any(mine) or any(theirs):  # a literal reports one empty name
        return None
    value = expr.evaluate()
    if value is UNDEFINED or value is ERROR or not isinstance(value, str | int | float | bool):
        return None
    return value
