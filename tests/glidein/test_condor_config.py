"""The pilot's generated condor config, evaluated the way the startd would.

There is no condor daemon here, so the config written by glidein/lib/condor.sh is read
by HTCondor's own config machinery (htcondor2.param, in a subprocess with
CONDOR_CONFIG pointing at it: macros, STARTD.-prefixed knobs and self-references
expanded as the startd would see them), and the START, black-hole and shutdown
expressions are evaluated with classad2 on sample startd ads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aglidein.classad.facade import AdValue, Expr, parse_expr

GLIDEIN = Path(__file__).resolve().parents[2] / "glidein"


RETIRE_AFTER = 3600
MAX_WALLTIME = 7500  # grace: 5 %, at most 300 s -> die at start + 7200


def render_config(tmp_path: Path, attrs: dict[str, str]) -> Path:
    """Run condor_write_config with these entry attrs, after the pilot's own setup
    (`glidein_setup`, as main() runs it: arguments, times, work dir, libs)."""
    attrs_file = tmp_path / "attrs"
    quoted = {name: "'" + value.replace("'", "'\\''") + "'" for name, value in attrs.items()}
    attrs_file.write_text("".join(f"{name}={value}\n" for name, value in quoted.items()))
    token = tmp_path / "idtoken"
    token.write_text("eyJ.token\n")
    (tmp_path / "logtoken").write_text("secret\n")
    tarball = tmp_path / "glidein.tgz"
    subprocess.run(["tar", "-czf", tarball, "-C", GLIDEIN.parent, "glidein"], check=True)
    base = tmp_path / "base"
    base.mkdir()
    script = """
        . "$1/glidein_startup.sh"
        shift
        glidein_setup "$@"
        CONDOR_DIR=/opt/condor
        attrs_load "$G_ATTRS" || exit 3
        condor_write_config "$G_WORK/condor_config"
        printf '%s\\n' "$G_WORK"
    """
    args = ["--id", "glidein-1", "--entry", "ENTRY_A", "--factory", "fact"]
    args += ["--collector", "cm.example.org:9618", "--log-url", "http://127.0.0.1:9/logs"]
    args += ["--idtoken", str(token), "--log-token", str(tmp_path / "logtoken")]
    args += ["--attrs", str(attrs_file), "--glidein-tarball", str(tarball)]
    args += ["--retire-after", str(RETIRE_AFTER), "--max-walltime", str(MAX_WALLTIME)]
    env = {**os.environ, "GLIDEIN_WORK_BASE": str(base), "GLIDEIN_LOG_STDERR_LEVEL": "critical"}
    done = subprocess.run(
        ["bash", "-c", script, "_", str(GLIDEIN), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    work = Path(done.stdout.strip().splitlines()[-1])
    token_copy = work / "tokens.d" / "glidein.idtoken"
    assert token_copy.read_text() == "eyJ.token\n"
    assert token_copy.stat().st_mode & 0o777 == 0o600
    assert (work / "tokens.d").stat().st_mode & 0o777 == 0o700
    return work / "condor_config"


# Runs with CONDOR_CONFIG set: the startd's view of the knobs (STARTD.X wins over X),
# every STARTD_ATTRS / STARTD_LATCH_EXPRS entry included.
DUMP = """
import json, sys
import htcondor2
def get(name):
    for key in ("STARTD." + name, name):
        try:
            value = htcondor2.param[key]
        except KeyError:
            continue
        return str(value).lower() if isinstance(value, bool) else str(value)
    return None
names = ["START", "STARTD_ATTRS", "STARTD_LATCH_EXPRS", "DAEMON_SHUTDOWN", *sys.argv[1:]]
lists = (get("STARTD_ATTRS") or "") + "," + (get("STARTD_LATCH_EXPRS") or "")
names += [n.strip() for n in lists.replace(" ", ",").split(",") if n.strip()]
print(json.dumps({name: get(name) for name in names}))
"""


def parse_config(config: Path, *extra: str) -> dict[str, str]:
    """The config as HTCondor reads it: name -> expanded value (absent names left out)."""
    env = {**os.environ, "CONDOR_CONFIG": str(config)}
    out = subprocess.run(
        [sys.executable, "-c", DUMP, *extra], env=env, check=True, capture_output=True, text=True
    ).stdout
    return {name: value for name, value in json.loads(out).items() if value is not None}


def startd_ad(values: dict[str, str], **stats: AdValue) -> dict[str, AdValue]:
    """The slot ad: every STARTD_ATTRS / STARTD_LATCH_EXPRS entry plus the stats."""
    names = values["STARTD_ATTRS"] + "," + values.get("STARTD_LATCH_EXPRS", "")
    ad: dict[str, AdValue] = {}
    for name in filter(None, (n.strip() for n in names.split(","))):
        ad[name] = parse_expr(values[name])
    ad.update(stats)
    return ad


def start_time(values: dict[str, str]) -> int:
    """The glidein's start (epoch seconds), as its startd advertises it."""
    return int(values["GLIDEIN_START_TIME"])


def evaluate(values: dict[str, str], name: str, **stats: AdValue) -> object:
    """Evaluate config expression `name` against the slot ad at the glidein's start."""
    now = start_time(values)
    text = values[name].replace("time()", str(now))
    ad: dict[str, AdValue] = {}
    for key, value in startd_ad(values, **stats).items():
        ad[key] = (
            parse_expr(value.text.replace("time()", str(now))) if isinstance(value, Expr) else value
        )
    return parse_expr(text).evaluate(my=ad)


BLACKHOLE = {"GLIDEIN_BLACKHOLE_NUMJOBS": "10", "GLIDEIN_BLACKHOLE_RATE": "0.01"}


@pytest.fixture
def protected(tmp_path: Path) -> dict[str, str]:
    """Config of an entry with black-hole protection: 10 jobs, under 100 s each."""
    return parse_config(render_config(tmp_path, {"GLIDEIN_Site": "SITE_A", **BLACKHOLE}))


def test_fresh_and_normal_glideins_start_jobs(protected: dict[str, str]) -> None:
    assert evaluate(protected, "START") is True
    normal = {"RecentJobBusyTimeCount": 12, "RecentJobBusyTimeAvg": 3600.0}
    assert evaluate(protected, "START", **normal) is True
    few_short = {"RecentJobBusyTimeCount": 3, "RecentJobBusyTimeAvg": 4.0}
    assert evaluate(protected, "START", **few_short) is True


def test_a_burst_of_short_jobs_closes_the_node(protected: dict[str, str]) -> None:
    burst = {"RecentJobBusyTimeCount": 10, "RecentJobBusyTimeAvg": 5.0}
    assert evaluate(protected, "GLIDEIN_BLACKHOLE", **burst) is True
    assert evaluate(protected, "START", **burst) is False


def test_the_latch_holds_after_the_window_slides(protected: dict[str, str]) -> None:
    # The startd re-evaluates the latch expression and publishes the last value as
    # GLIDEIN_BLACKHOLEValue; feed it back as the startd does, window by window.
    windows = [
        {"RecentJobBusyTimeCount": 2, "RecentJobBusyTimeAvg": 900.0},
        {"RecentJobBusyTimeCount": 15, "RecentJobBusyTimeAvg": 2.0},  # the black hole
        {"RecentJobBusyTimeCount": 0},  # 20 minutes later: nothing in the window
        {},  # statistics gone entirely
    ]
    latched: AdValue = 0
    seen = []
    for stats in windows:
        value = evaluate(protected, "GLIDEIN_BLACKHOLE", GLIDEIN_BLACKHOLEValue=latched, **stats)
        latched = 1 if value is True else 0
        seen.append(evaluate(protected, "START", GLIDEIN_BLACKHOLEValue=latched, **stats))
    assert seen == [True, False, False, False]
    # the startd may also publish the latched value as a boolean
    assert evaluate(protected, "START", GLIDEIN_BLACKHOLEValue=True) is False


def test_a_latched_idle_node_shuts_down_after_five_minutes(protected: dict[str, str]) -> None:
    now = start_time(protected)
    tripped = {"GLIDEIN_BLACKHOLEValue": 1, "State": "Unclaimed"}
    just_now = evaluate(protected, "DAEMON_SHUTDOWN", GLIDEIN_BLACKHOLETime=now - 10, **tripped)
    assert just_now is False
    later = evaluate(protected, "DAEMON_SHUTDOWN", GLIDEIN_BLACKHOLETime=now - 400, **tripped)
    assert later is True
    busy = {"GLIDEIN_BLACKHOLEValue": 1, "State": "Claimed", "GLIDEIN_BLACKHOLETime": now - 400}
    assert evaluate(protected, "DAEMON_SHUTDOWN", **busy) is False


@pytest.mark.parametrize(
    "attrs",
    [
        {"GLIDEIN_BLACKHOLE_NUMJOBS": "10"},
        {"GLIDEIN_BLACKHOLE_RATE": "0.01"},
        {"GLIDEIN_BLACKHOLE_NUMJOBS": "10", "GLIDEIN_BLACKHOLE_RATE": "0"},
        {},
    ],
)
def test_protection_is_off_unless_both_attrs_are_set(tmp_path: Path, attrs: dict[str, str]) -> None:
    values = parse_config(render_config(tmp_path, attrs))
    assert "GLIDEIN_BLACKHOLE" not in values
    burst = {"RecentJobBusyTimeCount": 100, "RecentJobBusyTimeAvg": 1.0}
    assert evaluate(values, "START", **burst) is True


def test_no_new_jobs_after_the_retire_time(tmp_path: Path) -> None:
    values = parse_config(render_config(tmp_path, BLACKHOLE))
    now = start_time(values)
    values["GLIDEIN_ToRetire"] = str(now - 1)
    assert evaluate(values, "START") is False
    assert evaluate(values, "DAEMON_SHUTDOWN", State="Unclaimed") is True
    assert evaluate(values, "DAEMON_SHUTDOWN", State="Claimed") is False
    values["GLIDEIN_ToDie"] = str(now - 1)
    assert evaluate(values, "DAEMON_SHUTDOWN", State="Claimed") is True


def test_identity_and_entry_attrs_are_advertised(tmp_path: Path) -> None:
    nasty = 'it\'s "quoted" \\ $(NOT_A_MACRO) and\nnewline'
    values = parse_config(
        render_config(
            tmp_path,
            {
                "GLIDEIN_Site": "SITE_A",
                "GLIDEIN_CPUS": "8",
                "GLIDEIN_MaxMemMBs": "16000",
                "GLIDEIN_Note": nasty,
                "GLIDEIN_Flag": "True",
                "SEC_DEFAULT_AUTHENTICATION": "NEVER",
                "OTHER_ATTR": "x",
                "GLIDEIN_STARTD_ATTRS": "OTHER_ATTR",
            },
        ),
        "SEC_DEFAULT_AUTHENTICATION",
        "NUM_CPUS",
        "MEMORY",
        "COLLECTOR_HOST",
        "SEC_TOKEN_DIRECTORY",
    )
    ad = startd_ad(values)
    assert evaluate(values, "AglideinId") == "glidein-1"
    assert evaluate(values, "AglideinEntry") == "ENTRY_A"
    assert evaluate(values, "AglideinFactory") == "fact"
    assert evaluate(values, "GLIDEIN_Site") == "SITE_A"
    assert evaluate(values, "GLIDEIN_CPUS") == 8
    assert evaluate(values, "GLIDEIN_Flag") is True
    assert evaluate(values, "GLIDEIN_Note") == nasty
    assert evaluate(values, "OTHER_ATTR") == "x"
    assert "SEC_DEFAULT_AUTHENTICATION" not in ad  # a condor knob is never taken from attrs
    assert values["SEC_DEFAULT_AUTHENTICATION"] == "REQUIRED"
    assert values["NUM_CPUS"] == "8"
    assert values["MEMORY"] == "16000"
    assert values["COLLECTOR_HOST"] == "cm.example.org:9618"
    assert values["SEC_TOKEN_DIRECTORY"].endswith("/tokens.d")


def test_glidein_daemons_do_not_use_the_family_session(tmp_path: Path) -> None:
    # issue 13: on a host that runs pool daemons too (a CE, a personal pool) the
    # collector rejected the first startd update ("not in the same family of Condor
    # daemon processes") and the slot appeared only 300 s later.
    values = parse_config(render_config(tmp_path, {}), "SEC_USE_FAMILY_SESSION")
    assert values["SEC_USE_FAMILY_SESSION"] == "false"


def test_the_slot_advertises_the_times_main_sets(tmp_path: Path) -> None:
    # issue 14: condor.sh read G_START_TIME, which main() never set (the startd
    # advertised an empty GLIDEIN_START_TIME); the old test set it itself and hid that.
    before = int(time.time())
    values = parse_config(render_config(tmp_path, {}))
    start = start_time(values)
    assert before - 5 <= start <= time.time() + 5
    assert evaluate(values, "GLIDEIN_ToRetire") == start + RETIRE_AFTER
    assert evaluate(values, "GLIDEIN_ToDie") == start + MAX_WALLTIME - 300
