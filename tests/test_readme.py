"""The README opens with the two commands and renders (code blocks closed)."""

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_opens_with_the_two_commands() -> None:
    top = README.splitlines()[:10]
    assert any(line.startswith("make demo") for line in top)
    assert any(line.startswith("make test") for line in top)


def test_code_blocks_are_closed() -> None:
    fences = [line for line in README.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0
