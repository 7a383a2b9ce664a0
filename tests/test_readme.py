"""The README opens with the two commands and what they need, renders (code blocks closed),
and points only at what the repository has."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PILOT_README = (REPO / "glidein" / "README.md").read_text()


def test_opens_with_the_two_commands() -> None:
    top = README.splitlines()[:10]
    assert any(line.startswith("make demo") for line in top)
    assert any(line.startswith("make test") for line in top)


def test_code_blocks_are_closed() -> None:
    fences = [line for line in README.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0


def test_says_what_the_two_commands_need() -> None:
    top = "\n".join(README.splitlines()[:25])
    for needed in ("Python ≥ 3.11", "root", "apt-get", "make deps", "promtool", "chromium"):
        assert needed in top, needed
    assert re.search(r"`make test` runs its ~\d+\s+tests", top)


def test_cites_no_design_sections() -> None:
    # DESIGN.md is the developers' contract file; it is not in the repository.
    for text in (README, PILOT_README):
        assert "DESIGN" not in text
        assert "§" not in text


def test_points_at_the_operator_kit() -> None:
    for path in ("conf/grafana/aglidein-dashboard.json", "conf/prometheus/aglidein.rules.yml"):
        assert path in README
        assert (REPO / path).is_file()


def test_pilot_examples_sign_their_log_token() -> None:
    for text in (README, PILOT_README):
        assert "aglidein token log" in text
        assert "echo token" not in text


def test_the_factory_schedds_example_loads(tmp_path: Path) -> None:
    from aglidein.config import parse_config_text

    start = README.index("cat > /tmp/aglidein-fs/aglidein.yaml <<'YAML'\n")
    text = README[start:].split("\n", 1)[1].split("\nYAML\n", 1)[0]
    key = tmp_path / "POOL"
    key.write_bytes(b"k" * 32)
    config = parse_config_text(text.replace("/tmp/aglidein-fs/POOL", str(key))).config
    assert len(config.pool.schedds) == 2
