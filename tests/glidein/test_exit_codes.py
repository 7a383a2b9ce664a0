"""The pilot's exit codes: glidein_startup.sh's EXIT_CODES table, the Python table that
names exits (`aglidein_glidein_exits_total`) and the README all say the same."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from aglidein.core.lifecycle import PILOT_EXIT_CODES, exit_reason, pilot_exit_code

GLIDEIN = Path(__file__).resolve().parents[2] / "glidein"

DUMP = """
. "$1/glidein_startup.sh"
for code in 0 1 2 3 9 10 11 12 13 14 124 255; do
    exit_reason "$code"
    printf 'reason %s %s\\n' "$code" "$EXIT_REASON"
done
for reason in ok bad_arguments validation_failed condor_failed black_hole signalled; do
    var=EXIT_${reason^^}
    printf 'var %s %s\\n' "$reason" "${!var}"
done
"""


def _bash_tables() -> tuple[dict[int, str], dict[str, int]]:
    out = subprocess.run(
        ["bash", "-c", DUMP, "_", str(GLIDEIN)], check=True, capture_output=True, text=True
    ).stdout
    reasons: dict[int, str] = {}
    variables: dict[str, int] = {}
    for line in out.splitlines():
        kind, key, value = line.split()
        if kind == "reason":
            reasons[int(key)] = value
        else:
            variables[key] = int(value)
    return reasons, variables


def test_bash_and_python_agree_on_every_code() -> None:
    reasons, variables = _bash_tables()
    assert {code: exit_reason(code) for code in reasons} == reasons
    assert {name: pilot_exit_code(name) for name in variables} == variables
    assert set(PILOT_EXIT_CODES) <= set(reasons)
    assert {reasons[code] for code in PILOT_EXIT_CODES} == set(PILOT_EXIT_CODES.values())


def test_the_readme_table_is_the_same() -> None:
    text = (GLIDEIN / "README.md").read_text()
    rows = dict(
        (int(code), reason) for code, reason in re.findall(r"^\| (\d+) \| `(\w+)` \|", text, re.M)
    )
    assert rows == dict(PILOT_EXIT_CODES)


def test_a_real_exit_uses_the_table(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(GLIDEIN / "glidein_startup.sh"), "--id"], capture_output=True, cwd=tmp_path
    )
    assert done.returncode == pilot_exit_code("bad_arguments")
