"""Glidein submit descriptions (DESIGN §6), checked with htcondor2.Submit offline."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import htcondor2
import pytest

from aglidein.condor.submit_table import job_attributes
from aglidein.core.submit import (
    GlideinFiles,
    PilotFiles,
    render_attrs_file,
    render_submit,
    shell_quote,
    userlog_name,
    userlog_schedd,
)
from tests.adapter_helpers import ENTRY_KINDS, make_config

PILOT = PilotFiles(
    startup="/opt/aglidein/glidein_startup.sh",
    tarball="/var/lib/aglidein/glidein-0123abcd.tar.gz",
    attrs_file="/var/lib/aglidein/glideins/E/attrs",
)
LOG_URL = "https://factory.example.org/api/v1/logs"
SECRET_MARKERS = ("secret-key-bytes", "eyJ")


def _glideins(tmp_path: Path, n: int = 2) -> list[GlideinFiles]:
    return [
        GlideinFiles(
            glidein_id=f"id-{i}",
            idtoken_file=str(tmp_path / "tokens" / f"id-{i}.idtoken"),
            log_token_file=str(tmp_path / "tokens" / f"id-{i}.logtoken"),
        )
        for i in range(n)
    ]


def _expanded(description: object, tmp_path: Path) -> list[dict[str, str]]:
    """Every proc's commands as htcondor2.Submit expands them."""
    commands = dict(description.commands)  # type: ignore[attr-defined]
    submit = htcondor2.Submit(commands)
    rows = [dict(r) for r in description.itemdata]  # type: ignore[attr-defined]
    submit.setQArgs(
        ",".join(description.queue_vars)  # type: ignore[attr-defined]
        + " from (\n"
        + "".join(" ".join(r.values()) + "\n" for r in rows)
        + ")"
    )
    items = list(submit.itemdata())
    assert items == rows
    out = []
    for item in items:
        for name, value in item.items():
            submit[name] = value
        out.append(
            {key: submit.expand(key) for key in commands if not key.startswith("+")}
            | {key: submit.expand("MY." + key[1:]) for key in commands if key.startswith("+")}
        )
    return out


@pytest.mark.parametrize("kind", sorted(ENTRY_KINDS))
def test_every_gridtype_carries_the_design_attributes_and_files(kind: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, {kind: ENTRY_KINDS[kind]})
    entry = config.entry(kind)
    glideins = _glideins(tmp_path)
    description = render_submit(
        config, entry, "main", "batch-1", glideins, PILOT, LOG_URL, "/state/glideins/" + kind
    )
    assert description.count == 2
    procs = _expanded(description, tmp_path)
    for glidein, proc in zip(glideins, procs, strict=True):
        ad = job_attributes(proc)
        assert ad["AglideinFactory"] == "test-factory"
        assert ad["AglideinEntry"] == kind
        assert ad["AglideinGroup"] == "main"
        assert ad["AglideinId"] == glidein.glidein_id
        assert ad["AglideinBatch"] == "batch-1"
        assert isinstance(ad["AglideinCredential"], str)
        assert ad["AglideinCredential"]
        inputs = str(ad["TransferInput"]).split(",")
        assert PILOT.tarball in inputs
        assert PILOT.attrs_file in inputs
        assert glidein.idtoken_file in inputs
        assert glidein.log_token_file in inputs
        assert ad["Cmd"] == PILOT.startup
        args = str(ad["Args"]).split()
        flags = dict(zip(args[::2], args[1::2], strict=True))
        assert flags["--id"] == glidein.glidein_id
        assert flags["--entry"] == kind
        assert flags["--factory"] == "test-factory"
        assert flags["--collector"] == "cm.example.org:9618"
        assert flags["--log-url"] == LOG_URL
        assert Path(flags["--idtoken"]).name == Path(glidein.idtoken_file).name
        assert Path(flags["--log-token"]).name == Path(glidein.log_token_file).name
        assert Path(flags["--glidein-tarball"]).name == Path(PILOT.tarball).name
        assert Path(flags["--attrs"]).name == "attrs"
        assert flags["--max-walltime"] == str(48 * 3600)
        assert flags["--retire-after"] == str(6 * 3600)
        assert ad["Out"] == f"/state/glideins/{kind}/{glidein.glidein_id}.out"
        assert ad["Err"] == f"/state/glideins/{kind}/{glidein.glidein_id}.err"
        assert str(ad["UserLog"]).startswith(f"/state/glideins/{kind}/")
        text = repr(proc)
        assert not any(marker in text for marker in SECRET_MARKERS)


def test_grid_resources_and_credentials_per_gridtype(tmp_path: Path) -> None:
    config = make_config(tmp_path, dict(ENTRY_KINDS))
    rendered = {
        name: dict(
            render_submit(
                config, config.entry(name), "g", "b", _glideins(tmp_path, 1), PILOT, LOG_URL, "/o"
            ).commands
        )
        for name in ENTRY_KINDS
    }
    creds = tmp_path / "creds"
    assert rendered["CE"]["grid_resource"] == "condor ce1.example.org ce1.example.org:9619"
    assert rendered["CE"]["scitokens_file"] == str(creds / "osg")
    assert rendered["CE"]["+maxWallTime"] == str(48 * 60)
    assert rendered["IDT"]["grid_resource"] == "condor ce2.example.org ce2.example.org:9619"
    assert "scitokens_file" not in rendered["IDT"]
    assert "x509userproxy" not in rendered["IDT"]
    assert rendered["BATCH"]["grid_resource"] == (
        f"batch slurm pilot@login.example.org --rgahp-key {creds / 'sshkey'}"
    )
    assert rendered["BATCH"]["batch_runtime"] == str(48 * 3600)
    assert rendered["ARC"]["grid_resource"] == "arc https://arc.example.org:443/arex"
    assert rendered["ARC"]["x509userproxy"] == str(creds / "proxy")
    assert rendered["LOCAL"]["universe"] == "local"
    assert "grid_resource" not in rendered["LOCAL"]
    assert rendered["LOCAL"]["environment"] == '"GLIDEIN_CONDOR=none"'


def test_condor_tarball_and_submit_attrs_pass_through(tmp_path: Path) -> None:
    settings = {
        **ENTRY_KINDS["CE"],
        "glidein": {"condor_tarball": "/opt/condor.tar.gz", "max_walltime": "2h"},
        "submit_attrs": {"+maxMemory": 12000, "+Queue": "short", "request_cpus": 8},
    }
    config = make_config(tmp_path, {"CE": settings})
    description = render_submit(
        config, config.entry("CE"), "g", "b", _glideins(tmp_path, 1), PILOT, LOG_URL, "/o"
    )
    (proc,) = _expanded(description, tmp_path)
    ad = job_attributes(proc)
    assert "/opt/condor.tar.gz" in str(ad["TransferInput"]).split(",")
    assert "--condor-tarball condor.tar.gz" in str(ad["Args"])
    assert "--max-walltime 7200" in str(ad["Args"])
    assert ad["maxMemory"] == 12000  # submit_attrs replace the rendered request
    assert [name for name, _ in description.commands].count("+maxMemory") == 1
    assert ad["xcount"] == 8
    assert ad["Queue"] == "short"
    assert ad["RequestCpus"] == 8
    assert ad["maxWallTime"] == 120


def _ad(tmp_path: Path, name: str, settings: dict[str, object]) -> dict[str, object]:
    config = make_config(tmp_path, {name: settings})
    description = render_submit(
        config, config.entry(name), "g", "b", _glideins(tmp_path, 1), PILOT, LOG_URL, "/o"
    )
    (proc,) = _expanded(description, tmp_path)
    return dict(job_attributes(proc))


def test_condor_entries_request_the_advertised_node_from_the_ce(tmp_path: Path) -> None:
    # issue 13: with only +maxWallTime the site ran the pilot on 1 core and its
    # validation failed; GlideinWMS asks HTCondor-CE with +xcount / +maxMemory, and a
    # plain schedd (HTCondor-C) reads the remote job's own Request* attributes.
    attrs = {"GLIDEIN_CPUS": 8, "GLIDEIN_MaxMemMBs": 16000, "GLIDEIN_GPUS": "2"}
    attrs |= {"GLIDEIN_MIN_DISK_MB": 2048}
    ad = _ad(tmp_path, "CE", {**ENTRY_KINDS["CE"], "attrs": attrs})
    assert (ad["xcount"], ad["maxMemory"], ad["RequestGPUs"]) == (8, 16000, 2)
    assert (ad["remote_RequestCpus"], ad["remote_RequestMemory"]) == (8, 16000)
    assert (ad["remote_RequestDisk"], ad["remote_RequestGPUs"]) == (2048 * 1024, 2)
    assert ad["maxWallTime"] == 48 * 60


def test_batch_and_arc_entries_request_cpus_and_memory(tmp_path: Path) -> None:
    attrs = {"GLIDEIN_CPUS": "4", "GLIDEIN_MaxMemMBs": 8000, "MIN_DISK_GBS": 3}
    batch = _ad(tmp_path, "BATCH", {**ENTRY_KINDS["BATCH"], "attrs": attrs})
    assert (batch["RequestCpus"], batch["RequestMemory"]) == (4, 8000)
    assert batch["RequestDisk"] == 3 * 1024 * 1024
    assert "RequestGPUs" not in batch
    arc = _ad(tmp_path, "ARC", {**ENTRY_KINDS["ARC"], "attrs": {"GLIDEIN_CPUS": 2}})
    assert arc["RequestCpus"] == 2
    assert "RequestMemory" not in arc


def test_unknown_or_automatic_resources_are_left_to_the_site(tmp_path: Path) -> None:
    attrs = {"GLIDEIN_CPUS": "auto", "GLIDEIN_MaxMemMBs": 0, "GLIDEIN_GPUS": True}
    ad = _ad(tmp_path, "CE", {**ENTRY_KINDS["CE"], "attrs": attrs})
    assert not {"xcount", "maxMemory", "RequestGPUs", "remote_RequestCpus"} & set(ad)
    local = _ad(tmp_path, "LOCAL", {"gridtype": "local", "attrs": {"GLIDEIN_CPUS": 4}})
    assert "RequestCpus" not in local


def test_submit_attrs_cannot_override_identity(tmp_path: Path) -> None:
    settings = {**ENTRY_KINDS["CE"], "submit_attrs": {"+AglideinFactory": "other"}}
    config = make_config(tmp_path, {"CE": settings})
    with pytest.raises(ValueError, match="AglideinFactory"):
        render_submit(
            config, config.entry("CE"), "g", "b", _glideins(tmp_path, 1), PILOT, LOG_URL, "/o"
        )


def test_attrs_file_is_single_quoted_name_value_lines(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"LOCAL": ENTRY_KINDS["LOCAL"]})
    text = render_attrs_file(config.entry("LOCAL"))
    assert text == "GLIDEIN_Site='Local'\nNOTE='it'\\''s local'\n"
    assert shell_quote("a b") == "'a b'"


def test_user_logs_are_named_per_schedd_and_utc_day_of_submission() -> None:
    schedds = ("fs1", "schedd_glideins2@fs.example.org")
    day = date(2026, 12, 7)
    assert userlog_name("fs1", schedds, day) == "glideins-20261207.log"
    assert userlog_name("", (), day) == "glideins-20261207.log"
    assert userlog_name(schedds[1], schedds, day) == (
        "glideins@schedd_glideins2@fs.example.org-20261207.log"
    )
    assert userlog_name("a b/c", ("fs1", "a b/c"), day) == "glideins@a_b_c-20261207.log"
    # the undated names earlier versions wrote (still read, never written again)
    assert userlog_name("fs1", schedds, None) == "glideins.log"
    assert userlog_name(schedds[1], schedds, None) == "glideins@schedd_glideins2@fs.example.org.log"


@pytest.mark.parametrize(
    ("name", "schedd"),
    [
        ("glideins.log", "fs1"),
        ("glideins-20261207.log", "fs1"),
        ("glideins@fs2.log", "fs2"),
        ("glideins@fs2-20261207.log", "fs2"),
        ("glideins@a_b_c-20261207.log", "a b/c"),
        # a schedd whose name ends like a day: its undated log, and its dated ones
        ("glideins@fs-20250101.log", "fs-20250101"),
        ("glideins@fs-20250101-20261207.log", "fs-20250101"),
        # a schedd since taken out of the list keeps its own name
        ("glideins@old.example.org-20261207.log", "old.example.org"),
        ("glideins.log.1", None),
        ("glideins-2026127.log", None),
        ("abc.err", None),
        ("attrs", None),
    ],
)
def test_a_user_log_names_its_factory_schedd(name: str, schedd: str | None) -> None:
    assert userlog_schedd(name, ("fs1", "fs2", "a b/c", "fs-20250101")) == schedd


def test_a_user_log_of_an_unnamed_single_schedd_names_none() -> None:
    assert userlog_schedd("glideins-20261207.log", ()) == ""
