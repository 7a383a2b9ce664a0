"""The personal instance's condor config template: its placeholders and what a filled
copy says (paths, daemons, ports, security, fast intervals, extra knobs last), and the
knobs of extra schedds under the same master."""

from __future__ import annotations

import string

import pytest

from aglidein.condor.personal.condor_config import (
    CONFIG_TEMPLATE,
    extra_schedds_config,
    schedd_subsystem,
)

FIELDS = {
    "release": "/opt/condor",
    "local": "/tmp/agp-x/vo",
    "bin": "/opt/condor/bin",
    "sbin": "/opt/condor/sbin",
    "lib": "/opt/condor/lib",
    "libexec": "/opt/condor/libexec",
    "daemons": "MASTER COLLECTOR SCHEDD",
    "host": "127.0.0.1",
    "port": 9618,
    "schedd": "vo",
    "trust": "vo.aglidein.test",
    "user": "htcondor",
    "ids": "CONDOR_IDS = 999.995",
    "cpus": 4,
    "memory": 4096,
    "extra": "MY_KNOB = 1",
}


def _knobs(text: str) -> dict[str, str]:
    knobs = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "use ")):
            name, _, value = line.partition("=")
            knobs[name.strip()] = value.strip()
    return knobs


def test_the_template_names_exactly_the_fields_the_instance_fills() -> None:
    names = {name for _, name, _, _ in string.Formatter().parse(CONFIG_TEMPLATE) if name}
    assert names == set(FIELDS)


def test_a_filled_config_points_everything_at_the_instance() -> None:
    text = CONFIG_TEMPLATE.format(**FIELDS)
    assert "{" not in text
    assert "}" not in text
    knobs = _knobs(text)
    assert knobs["RELEASE_DIR"] == "/opt/condor"
    assert knobs["LOCAL_DIR"] == "/tmp/agp-x/vo"
    assert knobs["SBIN"] == "/opt/condor/sbin"
    assert knobs["LIBEXEC"] == "/opt/condor/libexec"
    assert knobs["LOG"] == "$(LOCAL_DIR)/log"
    assert knobs["DAEMON_LIST"] == "MASTER COLLECTOR SCHEDD"
    assert knobs["COLLECTOR_HOST"] == "$(CONDOR_HOST):9618"
    assert knobs["CONDOR_HOST"] == knobs["NETWORK_INTERFACE"] == "127.0.0.1"
    assert knobs["SCHEDD_NAME"] == "vo@vo.aglidein.test"
    assert knobs["TRUST_DOMAIN"] == knobs["UID_DOMAIN"] == "vo.aglidein.test"
    assert knobs["CONDOR_IDS"] == "999.995"
    assert knobs["NUM_CPUS"] == "4"
    assert knobs["MEMORY"] == "4096"
    assert knobs["USE_SHARED_PORT"] == "False"
    assert "use SECURITY : recommended(htcondor)" in text
    assert knobs["ALLOW_ADMINISTRATOR"].endswith("htcondor@vo.aglidein.test root@*")
    assert knobs["SEC_DEFAULT_AUTHENTICATION_METHODS"] == "IDTOKENS, FS"


def test_intervals_are_fast_for_one_host() -> None:
    knobs = _knobs(CONFIG_TEMPLATE.format(**FIELDS))
    for knob in ("SCHEDD_INTERVAL", "NEGOTIATOR_INTERVAL", "GRIDMANAGER_JOB_PROBE_INTERVAL"):
        assert int(knobs[knob]) <= 10, knob
    assert int(knobs["GRIDMANAGER_RESOURCE_PROBE_INTERVAL"]) < 300  # HTCondor's default


def test_extra_knobs_come_last_so_they_override() -> None:
    text = CONFIG_TEMPLATE.format(**{**FIELDS, "extra": "SCHEDD_INTERVAL = 60"})
    assert text.rstrip().splitlines()[-1] == "SCHEDD_INTERVAL = 60"
    assert _knobs(text)["SCHEDD_INTERVAL"] == "60"


def test_no_ids_line_when_not_root() -> None:
    knobs = _knobs(CONFIG_TEMPLATE.format(**{**FIELDS, "ids": ""}))
    assert "CONDOR_IDS" not in knobs


def test_each_extra_schedd_has_its_name_spool_and_logs_under_its_local_name() -> None:
    knobs = _knobs(extra_schedds_config(["fs1", "fs2"]))
    assert knobs["FS1"] == "$(SCHEDD)"
    assert knobs["FS2_ARGS"] == "-local-name fs2"
    assert knobs["fs2.SCHEDD_NAME"] == "fs2@$(TRUST_DOMAIN)"
    # NAME.SPOOL (not SCHEDD.NAME.SPOOL): the job queue's default path follows it
    assert knobs["fs1.SPOOL"] == "$(LOCAL_DIR)/spool.fs1"
    assert knobs["fs2.SCHEDD_LOG"] == "$(LOG)/SchedLog.fs2"
    assert knobs["fs2.SCHEDD_AUDIT_LOG"] == "$(LOG)/SchedAuditLog.fs2"
    lines = extra_schedds_config(["fs1", "fs2"]).splitlines()
    assert [ln for ln in lines if ln.startswith("DAEMON_LIST")] == [
        "DAEMON_LIST = $(DAEMON_LIST) FS1",
        "DAEMON_LIST = $(DAEMON_LIST) FS2",
    ]
    assert schedd_subsystem("fs1") == "FS1"
    assert extra_schedds_config([]) == ""


@pytest.mark.parametrize(
    ("names", "taken"),
    [(["FS1"], ()), (["fs-1"], ()), (["fs1", "fs1"], ()), (["vo"], ("vo",)), (["schedd"], ())],
)
def test_a_local_name_that_cannot_work_is_refused_by_name(
    names: list[str], taken: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=f"extra schedd {names[-1]!r}: want a unique lowercase"):
        extra_schedds_config(names, taken)
