"""The ClassAd subset parser (aglidein.classad.parse): AST shape, precedence, scopes,
literals and source text of every node (each node's text evaluates in classad2 to what
the whole parse says), and `Unsupported` for what it leaves to classad2."""

from __future__ import annotations

import pytest

from aglidein.classad.facade import ERROR, UNDEFINED, parse_expr
from aglidein.classad.parse import (
    Attr,
    Binary,
    Call,
    Cond,
    ListLit,
    Lit,
    Node,
    Unary,
    Unsupported,
    parse,
)


def children(node: Node) -> list[Node]:
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, Cond):
        return [node.cond, node.then, node.other]
    if isinstance(node, Call | ListLit):
        return list(node.args if isinstance(node, Call) else node.items)
    return []


def walk(node: Node) -> list[Node]:
    out = [node]
    for child in children(node):
        out.extend(walk(child))
    return out


def test_precedence_and_associativity() -> None:
    node = parse("1 + 2 * 3 - 4")
    assert isinstance(node, Binary)
    assert node.op == "-"
    assert node.text == "1 + 2 * 3 - 4"
    left = node.left
    assert isinstance(left, Binary)
    assert left.op == "+"
    assert left.right == Binary("2 * 3", "*", Lit("2", 2), Lit("3", 3))
    node = parse("a || b && c == d < e")
    assert isinstance(node, Binary)
    assert node.op == "||"
    right = node.right
    assert isinstance(right, Binary)
    assert right.op == "&&"
    eq = right.right
    assert isinstance(eq, Binary)
    assert eq.op == "=="
    assert isinstance(eq.right, Binary)
    assert eq.right.op == "<"


def test_conditional_nests_to_the_right() -> None:
    node = parse("a ? 1 : b ? 2 : 3")
    assert isinstance(node, Cond)
    assert node.cond == Attr("a", "", "a")
    assert node.then == Lit("1", 1)
    assert isinstance(node.other, Cond)
    assert node.other.text == "b ? 2 : 3"


def test_scopes_and_names_are_lowercased() -> None:
    assert parse("MY.RequestCpus") == Attr("MY.RequestCpus", "my", "requestcpus")
    assert parse("Target.Memory") == Attr("Target.Memory", "target", "memory")
    assert parse("other.X").scope == "target"  # type: ignore[union-attr]
    assert parse("RIGHT.X").scope == "target"  # type: ignore[union-attr]
    assert parse("LEFT.X").scope == "my"  # type: ignore[union-attr]
    assert parse("self.X").scope == "my"  # type: ignore[union-attr]
    assert parse("Cpus") == Attr("Cpus", "", "cpus")


def test_literals() -> None:
    assert parse("42") == Lit("42", 42)
    assert parse("2.5e3") == Lit("2.5e3", 2500.0)
    assert parse(".5") == Lit(".5", 0.5)
    assert parse('"a\\"b\\\\c"') == Lit('"a\\"b\\\\c"', 'a"b\\c')
    assert parse("TRUE") == Lit("TRUE", True)
    assert parse("false") == Lit("false", False)
    assert parse("Undefined").value is UNDEFINED  # type: ignore[union-attr]
    assert parse("error").value is ERROR  # type: ignore[union-attr]
    assert parse(str(2**63 - 1)) == Lit(str(2**63 - 1), 2**63 - 1)


def test_is_and_isnt_become_meta_operators() -> None:
    node = parse("x is undefined")
    assert isinstance(node, Binary)
    assert node.op == "=?="
    node = parse("x ISNT 3")
    assert isinstance(node, Binary)
    assert node.op == "=!="


def test_calls_lists_and_unary() -> None:
    node = parse('StringListMember("a", {1, -x, !y}) ')
    assert isinstance(node, Call)
    assert node.name == "stringlistmember"
    assert node.text == 'StringListMember("a", {1, -x, !y})'
    lst = node.args[1]
    assert isinstance(lst, ListLit)
    assert [type(item) for item in lst.items] == [Lit, Unary, Unary]
    assert parse("f()") == Call("f()", "f", ())
    assert parse("{}") == ListLit("{}", ())


def test_parenthesised_nodes_keep_their_parentheses() -> None:
    node = parse("(a + 1) * 2")
    assert isinstance(node, Binary)
    assert node.left.text == "(a + 1)"
    assert isinstance(node.left, Binary)


@pytest.mark.parametrize(
    "text",
    [
        "1 + 2 * 3 - 4 / 2 % 3",
        "(1 + 2) * -3",
        "MY.a + TARGET.b > 3 && c =?= undefined",
        'ifThenElse(a is undefined, "x", strcat("y", "z")) == "X"',
        "a ? b + 1 : (c ? 2.5 : -1)",
        "!(a > 2) || member(2, {1, 2, 3})",
        'Target.Site =!= "A" isnt false',
    ],
)
def test_every_node_text_is_a_standalone_expression(text: str) -> None:
    my = {"a": 1, "c": False}
    target = {"b": 4, "Site": "B"}
    node = parse(text)
    assert node.text == text.strip()
    for sub in walk(node):
        value = parse_expr(sub.text).evaluate(my, target)  # classad2 parses every one
        if isinstance(sub, Lit):
            assert type(value) is type(sub.value)
            assert value == sub.value
        assert parse(sub.text) == sub


@pytest.mark.parametrize(
    "text",
    [
        "a & b",  # bit operators
        "a | b",
        "[x = 1].x",  # nested ads
        "l[0]",  # subscripts
        "017",  # octal
        "0x1F",
        str(2**63),
        '"a\\nb"',  # escapes outside the subset
        "a.b",  # an unknown scope
        "TARGET.x.y",  # a nested reference
        "MY.true",
        "countMatches(x, y)",
        "evalInEachContext(x, y)",
        "parent",
        "TARGET",
        "1 2",  # trailing text
        "(1",
        "f(1 2)",
        "",
    ],
)
def test_unsupported(text: str) -> None:
    with pytest.raises(Unsupported):
        parse(text)
