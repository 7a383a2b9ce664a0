"""GlideinWMS XML files as small trees that remember the file and line of each element.

expat reports the line of every start tag, so every report line and every comment in
the generated YAML can say where a value came from. Malformed XML raises GwmsError
naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from aglidein.errors import AglideinError

__all__ = ["GwmsError", "XmlNode", "parse_bool", "parse_xml_text", "read_xml"]


class GwmsError(AglideinError):
    """A GlideinWMS file cannot be read or is not what import-gwms expects."""


@dataclass(slots=True)
class XmlNode:
    """One XML element: tag, attributes, child elements, and where it starts."""

    tag: str
    attrs: dict[str, str]
    source: str
    line: int
    children: list[XmlNode] = field(default_factory=list)

    @property
    def where(self) -> str:
        """`file:line` of the start tag."""
        return f"{self.source}:{self.line}"

    def child(self, tag: str) -> XmlNode | None:
        """The first child element called `tag`, or None."""
        for node in self.children:
            if node.tag == tag:
                return node
        return None

    def iter(self, tag: str) -> Iterator[XmlNode]:
        """The child elements called `tag`, in document order."""
        return (node for node in self.children if node.tag == tag)

    def path(self, *tags: str) -> XmlNode | None:
        """The first descendant reached by following `tags` child by child."""
        node: XmlNode | None = self
        for tag in tags:
            if node is None:
                return None
            node = node.child(tag)
        return node


def parse_xml_text(data: bytes | str, source: str) -> XmlNode:
    """Parse XML text into an XmlNode tree, or raise GwmsError with `source:line`."""
    parser = expat.ParserCreate()
    root: list[XmlNode] = []
    stack: list[XmlNode] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = XmlNode(tag, attrs, source, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        message = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        raise GwmsError(
            f"{source}:{exc.lineno}: not well-formed XML: {message} (column {exc.offset + 1})"
        ) from None
    if not root:  # pragma: no cover - expat reports a missing root element itself
        raise GwmsError(f"{source}:1: no XML element")
    return root[0]


def read_xml(path: str | Path) -> XmlNode:
    """Read and parse one XML file; a missing or unreadable file is a GwmsError."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise GwmsError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise GwmsError(f"{file}: is a directory, not an XML file") from None
    except OSError as exc:
        raise GwmsError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return parse_xml_text(data, str(path))


def parse_bool(text: str | None, default: bool) -> bool | None:
    """GlideinWMS booleans (`True`/`False`, any case); None when unreadable."""
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    return None
