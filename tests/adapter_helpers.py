"""Configs and doubles for the adapter tests (condor, submit, provisioner, cycle)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from aglidein.config import Config, parse_config_text

__all__ = ["ENTRY_KINDS", "make_config", "write_secret"]

ENTRY_KINDS: dict[str, dict[str, Any]] = {
    "CE": {
        "gridtype": "condor",
        "gatekeeper": "ce1.example.org ce1.example.org:9619",
        "auth": {"method": "scitoken", "credential": "osg"},
        "attrs": {"GLIDEIN_Site": "SiteA", "GLIDEIN_CPUS": 8, "GLIDEIN_MaxMemMBs": 16000},
    },
    "BATCH": {
        "gridtype": "batch",
        "gatekeeper": "pilot@login.example.org",
        "batch_system": "slurm",
        "auth": {"method": "ssh", "credential": "sshkey"},
        "attrs": {"GLIDEIN_Site": "SiteB", "GLIDEIN_CPUS": 4},
    },
    "ARC": {
        "gridtype": "arc",
        "gatekeeper": "https://arc.example.org:443/arex",
        "auth": {"method": "x509", "credential": "proxy"},
        "attrs": {"GLIDEIN_Site": "SiteC", "GLIDEIN_CPUS": 1},
    },
    "IDT": {
        "gridtype": "condor",
        "gatekeeper": "ce2.example.org",
        "auth": {"method": "idtoken"},
        "attrs": {"GLIDEIN_Site": "SiteD"},
    },
    "LOCAL": {"gridtype": "local", "attrs": {"GLIDEIN_Site": "Local", "NOTE": "it's local"}},
}


def write_secret(path: Path, text: str = "secret-key-bytes\n") -> Path:
    """A 0600 file (signing keys, credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def make_config(
    tmp_path: Path,
    entries: dict[str, dict[str, Any]] | None = None,
    *,
    factory: dict[str, Any] | None = None,
    pool: dict[str, Any] | None = None,
    groups: list[dict[str, Any]] | None = None,
) -> Config:
    """A valid config with state under `tmp_path`; entries by name -> settings."""
    key = write_secret(tmp_path / "keys" / "POOL")
    credentials = []
    for name, kind in (("osg", "scitoken"), ("sshkey", "ssh"), ("proxy", "x509")):
        path = write_secret(tmp_path / "creds" / name)
        credentials.append({"name": name, "type": kind, "path": str(path)})
    entries = entries if entries is not None else {"CE": ENTRY_KINDS["CE"]}
    data: dict[str, Any] = {
        "factory": {
            "name": "test-factory",
            "state_dir": str(tmp_path / "state"),
            **(factory or {}),
        },
        "pool": {
            "collector": "cm.example.org:9618",
            "trust_domain": "cm.example.org",
            "signing_key": str(key),
            **(pool or {}),
        },
        "groups": groups
        if groups is not None
        else [{"name": "main", "schedds": ["schedd1"], "match": "true"}],
        "entries": [{"name": name, **settings} for name, settings in entries.items()],
        "credentials": credentials,
    }
    return parse_config_text(yaml.safe_dump(data)).config


# --- daemon parts for provisioner and cycle tests --------------------------------------

PLACEHOLDER_PILOT = """#!/bin/sh
# test stand-in for glidein/glidein_startup.sh: prints its arguments, checks its files
echo "placeholder pilot $* condor=${GLIDEIN_CONDOR:-} cwd=$(pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --idtoken|--log-token|--attrs|--glidein-tarball) [ -r "$2" ] || exit 2; shift 2 ;;
    *) shift ;;
  esac
done
sleep "${PLACEHOLDER_SLEEP:-0}"
exit "${PLACEHOLDER_EXIT:-0}"
"""


def idtoken_entry(site: str, **extra: Any) -> dict[str, Any]:
    """A condor-CE entry authenticating with an IDTOKEN (needs no credential item)."""
    return {
        "gridtype": "condor",
        "gatekeeper": f"ce.{site.lower()}.example.org",
        "auth": {"method": "idtoken"},
        "attrs": {"GLIDEIN_Site": site, "GLIDEIN_CPUS": 1},
        **extra,
    }


def placeholder_pilot(tmp_path: Path) -> Path:
    """A `glidein/` directory whose glidein_startup.sh is a small stand-in."""
    source = tmp_path / "pilot-src"
    (source / "lib").mkdir(parents=True, exist_ok=True)
    script = source / "glidein_startup.sh"
    script.write_text(PLACEHOLDER_PILOT)
    script.chmod(0o755)
    (source / "lib" / "log.sh").write_text("# placeholder\n")
    return source


def make_runtime(config: Config, clock: Any, state_path: Path | None = None) -> Any:
    """A Runtime around `config` with a state DB in its state_dir."""
    from aglidein.config import LoadedConfig
    from aglidein.services.metrics import Metrics
    from aglidein.services.runtime import ConfigHolder, Runtime, StatusBoard
    from aglidein.state import StateDB

    path = state_path or Path(config.factory.state_dir) / "state.db"
    status = StatusBoard(factory_name=config.factory.name, started=clock.now())
    status.sync_entries(config)
    return Runtime(
        config=ConfigHolder(LoadedConfig(config=config, path=None, warnings=())),
        metrics=Metrics(),
        clock=clock,
        state=StateDB.open(path),
        status=status,
    )


def metric(runtime: Any, name: str, **labels: str) -> float:
    """The sum of the samples whose labels include `labels` (0 when none): naming
    fewer labels than the metric has adds up over the others (e.g. every group)."""
    total = 0.0
    for family in runtime.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total
