"""Config input an attacker or a typo could give (issue 14 §4, §5): alias bombs, huge
numbers, and every error found in one pass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aglidein.cli import main
from aglidein.config import MAX_COUNT, parse_config_text
from aglidein.errors import ConfigError
from tests.test_config import BASE


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, source="conf.yaml")
    return info.value.problems


def test_billion_laughs_is_refused_quickly_with_a_line() -> None:
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    bomb = BASE + "x_bomb:\n" + "".join(f"  {line}\n" for line in levels)
    started = time.monotonic()
    problems = errors_of(bomb)
    assert time.monotonic() - started < 20  # liveness: it used to never finish
    assert len(problems) == 1
    assert problems[0].startswith("conf.yaml:")
    assert "aliases" in problems[0]


def test_many_aliases_are_refused() -> None:
    text = BASE + "x_many:\n  base: &b 1\n" + "".join(f"  k{i}: *b\n" for i in range(150))
    (problem,) = errors_of(text)
    assert "more than 100 YAML aliases" in problem
    assert problem.startswith("conf.yaml:")


def test_a_recursive_alias_is_refused() -> None:
    problems = errors_of(BASE + "x_loop: &loop [*loop]\n")
    assert any("aliases" in p or "recursive" in p for p in problems)


def test_a_few_aliases_still_work() -> None:
    ce2 = (
        "  - name: CE2\n    gridtype: condor\n    gatekeeper: ce2.example.org ce2.example.org:9619\n"
        "    auth: {method: scitoken, credential: osg}\n    attrs: *attrs\n"
    )
    text = BASE.replace("    attrs: {GLIDEIN_Site", "    attrs: &attrs {GLIDEIN_Site")
    text = text.replace("credentials:\n", ce2 + "credentials:\n")
    config = parse_config_text(text).config
    assert config.entry("CE2").attrs == config.entry("CE1").attrs


def test_a_5000_digit_integer_is_a_located_error() -> None:
    text = BASE.replace("  name: f1\n", "  name: f1\n  stale_cycles: " + "9" * 5000 + "\n")
    (problem,) = errors_of(text)
    assert problem == "conf.yaml:3: factory.stale_cycles: number has more than 30 digits"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "  limits: {max_glideins: 1000000000000000000000000000000}",
            "factory.limits.max_glideins",
        ),
        ("  limits: {max_idle: 10000001}", f"must be <= {MAX_COUNT}"),
        ("  cycle: 99999999999d", "factory.cycle: must be <= "),
        ("  submit: {cluster_size: 100000000000}", "factory.submit.cluster_size: must be <= "),
        ("  backoff: {max: .inf}", "factory.backoff.max"),
    ],
)
def test_absurd_numbers_have_upper_bounds(line: str, expected: str) -> None:
    problems = errors_of(BASE.replace("  name: f1\n", f"  name: f1\n{line}\n"))
    assert len(problems) == 1
    assert expected in problems[0]
    assert problems[0].startswith("conf.yaml:")


def test_attr_integers_beyond_64_bits_are_not_classad_integers() -> None:
    text = BASE.replace("GLIDEIN_CPUS: 8", "GLIDEIN_CPUS: 8, BIG: 99999999999999999999")
    big = parse_config_text(text).config.entry("CE1").attrs["BIG"]
    assert not isinstance(big, int)


def test_every_error_in_one_pass() -> None:
    """A duplicate entry name and a bad key are both reported the first time."""
    text = BASE + (
        "  - name: osg\n    type: scitoken\n    path: /elsewhere\n"  # duplicate credential
    )
    text = text.replace("  name: f1\n", "  name: f1\n  colour: blue\n")  # unknown key
    text = text.replace("credential: osg}", "credential: nowhere}")  # unknown credential
    text = text.replace(
        "credentials:\n",
        "  - name: CE1\n    gridtype: local\n"  # duplicate entry
        "  - name: CE3\n    gridtype: bogus\n"  # bad value
        "credentials:\n",
    )
    problems = errors_of(text)
    joined = "\n".join(problems)
    assert "factory.colour: unknown key" in joined
    assert "entries[1].name: duplicate name 'CE1'" in joined
    assert "entries[2].gridtype" in joined
    assert "credentials[1].name: duplicate name 'osg'" in joined
    assert "entries[0].auth.credential: unknown credential 'nowhere'" in joined
    lines = [int(p.split(":")[1]) for p in problems]
    assert lines == sorted(lines)


def test_check_config_reports_missing_key_and_credential_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "POOL"
    key.write_bytes(b"k")
    text = BASE.replace("/etc/condor/passwords.d/POOL", str(key))
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 0
    err = capsys.readouterr().err
    assert "credentials[osg].path: /var/lib/aglidein/osg.token: no such file" in err
    assert "signing_key" not in err
    path.write_text(BASE)
    assert main(["check-config", str(path)]) == 0
    assert "pool.signing_key: /etc/condor/passwords.d/POOL: no such file" in capsys.readouterr().err
