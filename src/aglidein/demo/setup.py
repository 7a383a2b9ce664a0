"""What `aglidein demo` prepares before the daemon starts: the port, a state dir, the
pool signing key, a config with the demo's paths, and the local pilots' environment."""

from __future__ import annotations

import os
import secrets
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aglidein.config import LoadedConfig, load_config
from aglidein.errors import AglideinError, ConfigError
from aglidein.logkeys import atomic_write
from aglidein.services.glidein_files import default_pilot_source

__all__ = [
    "PILOT_ENVIRONMENT",
    "DemoSetup",
    "check_port",
    "default_demo_config",
    "pilot_environment",
    "prepare",
]

# The local entry's pilots inherit the daemon's environment: keep them short and chatty
# so that several run, and post their logs, within a minute.
PILOT_ENVIRONMENT = {
    "GLIDEIN_HEARTBEAT_SECONDS": "2",
    "GLIDEIN_LOG_BATCH_SECONDS": "1",
    "GLIDEIN_LOG_FLUSH_TIMEOUT": "5",
    "GLIDEIN_NETWORK_TIMEOUT": "2",
}


@dataclass(frozen=True)
class DemoSetup:
    """A prepared demo: where its state lives and the config the daemon runs with."""

    state_dir: Path
    config_file: Path
    loaded: LoadedConfig
    port: int

    @property
    def base_url(self) -> str:
        """The daemon's HTTP address."""
        return f"http://127.0.0.1:{self.port}"


def default_demo_config() -> Path:
    """`conf/demo.yaml` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "conf" / "demo.yaml"


def check_port(port: int) -> None:
    """Raise AglideinError unless 127.0.0.1:`port` can be listened on."""
    if not 0 < port < 65536:
        raise AglideinError(f"--port {port}: not a TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError as exc:
            raise AglideinError(
                f"port {port} on 127.0.0.1 is taken ({exc.strerror}); choose another with --port"
            ) from None


def prepare(config_file: Path, state_dir: Path, port: int) -> DemoSetup:
    """Create the state dir (0700) and pool key (0600), write the demo's config into the
    state dir with its paths filled in, and validate it."""
    if not config_file.is_file():
        raise AglideinError(f"{config_file}: no demo config (pass --config)")
    try:
        data: Any = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{config_file}: cannot read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pool"), dict):
        raise ConfigError(f"{config_file}: not a config with a pool section")
    state_dir = state_dir.resolve()
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise AglideinError(f"{state_dir}: cannot create: {exc.strerror}") from None
    key = state_dir / "POOL"
    if not key.exists():
        atomic_write(key, secrets.token_bytes(32), 0o600)
    factory = data.setdefault("factory", {})
    factory["state_dir"] = str(state_dir)
    pool = data["pool"]
    pool["signing_key"] = str(key)
    simulate = pool.get("simulate")
    if not simulate:
        raise ConfigError(f"{config_file}: the demo needs pool.simulate (a scenario file)")
    pool["simulate"] = str(_scenario_path(config_file, str(simulate)))
    data.setdefault("http", {})["listen"] = [f"127.0.0.1:{port}"]
    data["http"].pop("public_url", None)
    written = state_dir / "aglidein.yaml"
    header = f"# Written by `aglidein demo` from {config_file.resolve()}\n"
    atomic_write(written, (header + yaml.safe_dump(data, sort_keys=False)).encode(), 0o644)
    return DemoSetup(
        state_dir=state_dir, config_file=written, loaded=load_config(written), port=port
    )


# What a local pilot runs after validation: a "user job" of a few seconds that logs
# through the pilot's own spool (lib/log.sh) and fails now and then, so the viewer has
# errors to find.
PAYLOAD = """#!/bin/bash
# The demo's stand-in for user jobs on a local glidein (written by `aglidein demo`).
. {log_sh}
job=$((RANDOM % 9000 + 1000))
log_event info payload.start msg="user job $job started" job:=$job
sleep 2
if ((RANDOM % 4 == 0)); then
    log_event error payload.failed msg="user job $job failed: input file not found" job:=$job
    exit 3
fi
sleep 2
log_event info payload.done msg="user job $job finished" job:=$job
"""


def pilot_environment(state_dir: Path) -> dict[str, str]:
    """Environment variables for local pilots (the caller's own values win); writes the
    demo payload into `state_dir`."""
    payload = state_dir / "demo-payload.sh"
    log_sh = default_pilot_source() / "lib" / "log.sh"
    atomic_write(payload, PAYLOAD.format(log_sh=shlex.quote(str(log_sh))).encode(), 0o755)
    wanted = {**PILOT_ENVIRONMENT, "GLIDEIN_WORKLOAD": f"bash {shlex.quote(str(payload))}"}
    return {name: os.environ.get(name, value) for name, value in wanted.items()}


def _scenario_path(config_file: Path, simulate: str) -> Path:
    """A relative `pool.simulate` is tried from the cwd, then beside the config."""
    path = Path(os.path.expandvars(os.path.expanduser(simulate)))
    if path.is_absolute():
        return path
    base = config_file.resolve().parent
    for candidate in (Path.cwd() / path, base / path, base / path.name, base.parent / path):
        if candidate.is_file():
            return candidate.resolve()
    raise AglideinError(f"{config_file}: pool.simulate {simulate}: no such scenario file")
