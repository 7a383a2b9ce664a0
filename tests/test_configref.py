"""The config reference: every key of the model with its type, default and the comment
the example config gives it."""

from __future__ import annotations

from pathlib import Path

from aglidein.configref import example_comments, reference_markdown

EXAMPLE = """\
# the factory
factory:
  name: f          # what glideins are tagged with
  # where state lives
  state_dir: /var/lib/aglidein
groups:
  - name: main     # a group
    match: 'a == "#"'
"""


def test_comments_attach_to_dotted_key_paths() -> None:
    comments = example_comments(EXAMPLE)
    assert comments["factory.name"] == "what glideins are tagged with"
    assert comments["factory.state_dir"] == "where state lives"
    assert comments["groups[].name"] == "a group"
    assert "groups[].match" not in comments  # a # inside quotes is no comment
    assert "factory" not in comments  # top-level keys take no comment from above


def test_the_reference_lists_every_key_with_type_and_default(tmp_path: Path) -> None:
    example = tmp_path / "example.yaml"
    example.write_text(EXAMPLE)
    table = reference_markdown(example).splitlines()
    assert table[0] == "| key | type | default | what it is |"
    (name_row,) = [row for row in table if row.startswith("| `factory.name` |")]
    assert name_row.endswith("| what glideins are tagged with |")
    assert any(row.startswith("| `entries[].gridtype` |") for row in table)
