"""Submit descriptions for glideins (DESIGN §6), one per cluster, pure data.

Every glidein job carries `+AglideinFactory/Entry/Group/Id/Batch/Credential`; the pilot
gets a fixed command line and its input files; credentials are referenced by path
(`scitokens_file`, `x509userproxy`, the SSH key of a batch entry). No token or key
material is put in the description: per-glidein tokens travel as 0600 files.

The resources the entry advertises (`GLIDEIN_CPUS`, `GLIDEIN_MaxMemMBs`, `GLIDEIN_GPUS`,
`GLIDEIN_MIN_DISK_MB`) are requested from the site the way GlideinWMS does it, so the
site gives the pilot the node its validation expects (see `resource_request`).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from aglidein.classad.facade import quote
from aglidein.config import Config, EntryConfig, GlideinSettings, GroupConfig
from aglidein.config_model import START_EXPR_ATTR
from aglidein.gridtypes import gridtype

__all__ = [
    "USERLOG_NAME",
    "GlideinFiles",
    "PilotFiles",
    "RenderedSubmit",
    "condor_value",
    "grid_resource",
    "render_attrs_file",
    "render_submit",
    "resource_request",
    "shell_quote",
    "userlog_name",
    "userlog_schedd",
]

# itemdata columns: the glidein id and its two token files
QUEUE_VARS = ("AglideinId", "AglideinIdtoken", "AglideinLogToken")


@dataclass(frozen=True, slots=True)
class RenderedSubmit:
    """One cluster's submit commands and itemdata rows (becomes a
    `condor.api.SubmitDescription`; the core does not import condor)."""

    commands: tuple[tuple[str, str], ...]
    queue_vars: tuple[str, ...]
    itemdata: tuple[Mapping[str, str], ...]

    @property
    def count(self) -> int:
        """How many glideins (procs) it makes."""
        return len(self.itemdata)


@dataclass(frozen=True, slots=True)
class PilotFiles:
    """What every glidein of an entry gets: script, `glidein/` tarball, attrs file."""

    startup: str  # glidein_startup.sh
    tarball: str  # glidein-<sha256>.tar.gz
    attrs_file: str  # the entry's attrs, NAME='value' lines


@dataclass(frozen=True, slots=True)
class GlideinFiles:
    """One glidein's id and its token files (already written, 0600)."""

    glidein_id: str
    idtoken_file: str
    log_token_file: str


def shell_quote(value: str) -> str:
    """A single-quoted shell word (`'` becomes `'\\''`)."""
    return "'" + value.replace("'", "'\\''") + "'"


def render_attrs_file(entry: EntryConfig, group: GroupConfig | None = None) -> str:
    """The attrs file: one `NAME='value'` a line, sorted by name; the entry's and the
    group's `start_expr` travel as `GLIDEIN_START_EXPR`, which the pilot ANDs into START."""
    values: dict[str, str | int | float | bool] = dict(entry.attrs)
    start = entry.start_expr_for(group)
    if start is not None:
        values[START_EXPR_ATTR] = start
    lines = []
    for name in sorted(values):
        value = values[name]
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        lines.append(f"{name}={shell_quote(text)}")
    return "".join(line + "\n" for line in lines)


def condor_value(value: str | int | float | bool) -> str:
    """A Python scalar as a ClassAd literal for a `+Attr` submit command."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(value)


def grid_resource(entry: EntryConfig, ssh_key: str | None = None) -> str | None:
    """The `grid_resource` of a grid entry (None for `local`)."""
    render = gridtype(entry.gridtype).grid_resource
    if render is None:
        return None
    return render((entry.gatekeeper or "").strip(), entry.batch_system, ssh_key)


USERLOG_NAME = "glideins.log"  # the undated name of the first schedd's user log (legacy)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@:-]")
_USERLOG = re.compile(r"glideins(?:@(?P<safe>[A-Za-z0-9_.@:-]+?))?(?:-(?P<day>\d{8}))?\.log")


def userlog_name(schedd: str, schedds: Sequence[str], day: date | None) -> str:
    """The user log of an entry's clusters submitted on UTC `day` to factory schedd
    `schedd`: `glideins-YYYYMMDD.log` for the first of `schedds`, else
    `glideins@SCHEDD-YYYYMMDD.log` (one per entry, schedd and day, as cluster.proc is per
    schedd). `day=None` names the undated file earlier versions wrote
    (`glideins.log`, `glideins@SCHEDD.log`)."""
    dated = "" if day is None else f"-{day:%Y%m%d}"
    if not schedds or schedd in ("", schedds[0]):
        return f"glideins{dated}.log"
    return f"glideins@{_safe(schedd)}{dated}.log"


def userlog_schedd(name: str, schedds: Sequence[str]) -> str | None:
    """The factory schedd whose user log file `name` is (of any day, or undated), None if
    `name` is not a user log. A name made for no schedd of `schedds` (one taken out of
    the list) gives the name's own spelling."""
    match = _USERLOG.fullmatch(name)
    if match is None:
        return None
    safe, day = match.group("safe"), match.group("day")
    if safe is None:
        return schedds[0] if schedds else ""
    known = {_safe(s): s for s in schedds}
    if safe not in known and day is not None and f"{safe}-{day}" in known:
        return known[f"{safe}-{day}"]  # the undated log of a schedd named `...-NNNNNNNN`
    return known.get(safe, safe)


def _safe(schedd: str) -> str:
    return _UNSAFE.sub("_", schedd)


def render_submit(
    config: Config,
    entry: EntryConfig,
    group: str,
    batch: str,
    glideins: Sequence[GlideinFiles],
    pilot: PilotFiles,
    log_url: str,
    output_dir: str,
    userlog: str = USERLOG_NAME,
) -> RenderedSubmit:
    """One cluster of glideins for (entry, group) tagged `batch`, logging to `userlog`."""
    rules = gridtype(entry.gridtype)
    if not rules.submittable:
        raise ValueError(f"entry {entry.name}: gridtype {rules.name} cannot be submitted")
    if not glideins:
        raise ValueError("a submission needs at least one glidein")
    settings = entry.effective_glidein(config.factory)
    credential_path: str | None = None
    credential_name: str = "idtoken" if entry.auth is None else entry.auth.method
    if entry.auth is not None and entry.auth.credential is not None:
        credential_name = entry.auth.credential
        credential_path = config.credential(entry.auth.credential).path
    method = entry.auth.method if entry.auth is not None else None
    local = rules.local

    inputs = [pilot.tarball, pilot.attrs_file, "$(AglideinIdtoken)", "$(AglideinLogToken)"]
    if settings.condor_tarball:
        inputs.append(settings.condor_tarball)
    commands: list[tuple[str, str]] = []
    resource = grid_resource(entry, credential_path if method == "ssh" else None)
    if resource is None:
        commands.append(("universe", "local"))
    else:
        commands += [("universe", "grid"), ("grid_resource", resource)]
    commands += [
        ("executable", pilot.startup),
        ("arguments", _arguments(config, entry, settings, pilot, log_url, local)),
        ("transfer_executable", "true"),
        ("transfer_input_files", ",".join(inputs)),
        ("should_transfer_files", "YES"),
        ("when_to_transfer_output", "ON_EXIT"),
        ("output", f"{output_dir}/$(AglideinId).out"),
        ("error", f"{output_dir}/$(AglideinId).err"),
        ("log", f"{output_dir}/{userlog}"),  # services.exits reads it
        ("notification", "never"),
    ]
    if local and not settings.condor_tarball:
        commands.append(("environment", '"GLIDEIN_CONDOR=none"'))
    if method == "scitoken" and credential_path:
        commands.append(("scitokens_file", credential_path))
    elif method == "x509" and credential_path:
        commands.append(("x509userproxy", credential_path))
    commands += rules.walltime_commands(math.ceil(settings.max_walltime))
    commands += [
        ("+AglideinFactory", condor_value(config.factory.name)),
        ("+AglideinEntry", condor_value(entry.name)),
        ("+AglideinGroup", condor_value(group)),
        ("+AglideinId", '"$(AglideinId)"'),
        ("+AglideinBatch", condor_value(batch)),
        ("+AglideinCredential", condor_value(credential_name)),
    ]
    reserved = {name.lower() for name, _ in commands}
    # the resource request is a default the entry's submit_attrs may replace
    overridden = {_attr_key(name) for name in entry.submit_attrs}
    commands += [c for c in resource_request(entry) if _attr_key(c[0]) not in overridden]
    for name, value in entry.submit_attrs.items():
        if name.lower() in reserved:
            raise ValueError(f"entry {entry.name}: submit_attrs may not override {name}")
        text = condor_value(value) if name.startswith("+") else _plain(value)
        commands.append((name, text))
    rows = tuple(
        {
            "AglideinId": g.glidein_id,
            "AglideinIdtoken": g.idtoken_file,
            "AglideinLogToken": g.log_token_file,
        }
        for g in glideins
    )
    return RenderedSubmit(commands=tuple(commands), queue_vars=QUEUE_VARS, itemdata=rows)


def _plain(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arguments(
    config: Config,
    entry: EntryConfig,
    settings: GlideinSettings,
    pilot: PilotFiles,
    log_url: str,
    local: bool,
) -> str:
    def sandbox(path: str) -> str:
        # local-universe jobs run where they are; grid jobs see transferred basenames
        return path if local else posixpath.basename(path)

    idtoken = "$(AglideinIdtoken)" if local else "$(AglideinId).idtoken"
    log_token = "$(AglideinLogToken)" if local else "$(AglideinId).logtoken"
    args = [
        "--id $(AglideinId)",
        f"--entry {entry.name}",
        f"--factory {config.factory.name}",
        f"--collector {config.pool.collector}",
        f"--log-url {log_url}",
        f"--idtoken {idtoken}",
        f"--log-token {log_token}",
        f"--attrs {sandbox(pilot.attrs_file)}",
        f"--glidein-tarball {sandbox(pilot.tarball)}",
    ]
    if settings.condor_tarball:
        args.append(f"--condor-tarball {sandbox(settings.condor_tarball)}")
    args.append(f"--retire-after {math.ceil(settings.retire_after)}")
    args.append(f"--max-walltime {math.ceil(settings.max_walltime)}")
    return " ".join(args)


def _attr_key(command: str) -> str:
    """`+X`, `MY.X` and `X` name the same thing for an override check."""
    lower = command.strip().lower()
    return lower.removeprefix("+").removeprefix("my.")


def _positive_int(value: str | int | float | bool | None) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def resource_request(entry: EntryConfig) -> list[tuple[str, str]]:
    """Submit commands asking the site for the node the entry advertises.

    `condor` entries get both HTCondor-CE's route attributes (`+xcount` cores,
    `+maxMemory` MB, `+RequestGPUs`) and, for a plain schedd reached by HTCondor-C, the
    remote job's own requests (`+remote_RequestCpus/Memory/Disk/GPUs`); `batch` and
    `arc` entries get `request_cpus/memory/disk` (+`RequestGPUs`), which the blahp and
    the ARC ADL translate. Values that are not positive integers (`auto`) are left to
    the site. `submit_attrs` of the same name replace these.
    """
    style = gridtype(entry.gridtype).resources
    if style is None:
        return []
    attrs = entry.attrs
    cpus = _positive_int(attrs.get("GLIDEIN_CPUS"))
    memory = _positive_int(attrs.get("GLIDEIN_MaxMemMBs"))
    gpus = _positive_int(attrs.get("GLIDEIN_GPUS"))
    disk_mb = _positive_int(attrs.get("GLIDEIN_MIN_DISK_MB"))
    if disk_mb is None and (disk_gb := _positive_int(attrs.get("MIN_DISK_GBS"))) is not None:
        disk_mb = disk_gb * 1024
    disk_kb = disk_mb * 1024 if disk_mb is not None else None  # RequestDisk is in KiB
    wanted: list[tuple[str, int | None]]
    if style == "htcondor_ce":
        wanted = [
            ("+xcount", cpus),
            ("+maxMemory", memory),
            ("+RequestGPUs", gpus),
            ("+remote_RequestCpus", cpus),
            ("+remote_RequestMemory", memory),
            ("+remote_RequestDisk", disk_kb),
            ("+remote_RequestGPUs", gpus),
        ]
    else:
        wanted = [
            ("request_cpus", cpus),
            ("request_memory", memory),
            ("request_disk", disk_kb),
            ("+RequestGPUs", gpus),
        ]
    return [(name, str(value)) for name, value in wanted if value is not None]
