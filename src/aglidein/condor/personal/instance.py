"""One HTCondor instance (a condor_master and its daemons) under a directory of its own.

`PoolInstance.start()` writes the condor config (in python, no helper script), the
signing key and tokens, then runs `condor_master` as the pool user; `stop()` ends it with
`condor_off -master`, then kills by pid whatever is left of it. Tools and the htcondor2
bindings use it through `env` (CONDOR_CONFIG, PATH).

Run as root, the daemons run as an unprivileged user (HTCondor never lets root own a
job): root's tools authenticate with an IDTOKEN for that user kept in `tokens.root.d`
(SEC_TOKEN_DIRECTORY), the daemons read `tokens.d` (SEC_TOKEN_SYSTEM_DIRECTORY).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aglidein.condor.personal.condor_config import (
    CONFIG_TEMPLATE,
    extra_schedds_config,
    schedd_subsystem,
)
from aglidein.condor.personal.processes import daemon_pids, kill_leftovers, pids_of
from aglidein.condor.personal.release import CondorRelease

__all__ = [
    "PoolError",
    "PoolInstance",
    "PoolSpec",
    "free_port",
    "kill_leftovers",
    "pids_of",
    "wait_until",
]

T = TypeVar("T")
HOST = "127.0.0.1"


class PoolError(RuntimeError):
    """A pool did not start, a tool failed, or a wait ran out of time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Call `probe` until it returns something truthy; PoolError naming `what` after
    `timeout` seconds (with `diagnose()` appended, e.g. a log tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{diagnose()}" if diagnose else ""
            raise PoolError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """What an instance runs: `daemons` besides MASTER, its trust domain, slot size."""

    name: str  # "vo" | "site": the directory, the schedd name prefix
    daemons: tuple[str, ...]
    trust_domain: str
    cpus: int = 4
    memory_mb: int = 4096
    extra_config: str = ""
    # local names of more schedds under the same master, each named NAME@trust_domain
    extra_schedds: tuple[str, ...] = ()


def _run_user() -> str | None:
    """The user the daemons run as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("AGLIDEIN_POOL_USER", "htcondor")
    if name in {"root", "condor"}:
        raise PoolError(f"AGLIDEIN_POOL_USER={name}: the schedd refuses jobs owned by {name}")
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd", "--system", "--user-group", "--no-create-home",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name,
            ],
            check=True, capture_output=True,
        )  # fmt: skip
    return name


@dataclass
class PoolInstance:
    """A running (or startable) HTCondor instance; see the module docstring."""

    spec: PoolSpec
    release: CondorRelease
    base: Path  # the instance directory (short: unix socket paths live below it)
    port: int = field(default_factory=free_port)
    user: str = field(init=False)
    _as_user: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._as_user = _run_user()
        self.user = self._as_user or pwd.getpwuid(os.geteuid()).pw_name

    # --- endpoints ---------------------------------------------------------------------
    @property
    def collector(self) -> str:
        """The collector as `host:port`."""
        return f"{HOST}:{self.port}"

    @property
    def schedd_name(self) -> str:
        """The schedd's Name (with '@', so it never needs a resolvable host name)."""
        return f"{self.spec.name}@{self.spec.trust_domain}"

    @property
    def schedd_names(self) -> tuple[str, ...]:
        """Every schedd's Name: this instance's own, then those of `spec.extra_schedds`."""
        extra = (f"{n}@{self.spec.trust_domain}" for n in self.spec.extra_schedds)
        return (self.schedd_name, *extra)

    @property
    def trust_domain(self) -> str:
        """TRUST_DOMAIN (and UID_DOMAIN): the issuer of this pool's IDTOKENs."""
        return self.spec.trust_domain

    @property
    def config_path(self) -> Path:
        """The CONDOR_CONFIG file."""
        return self.base / "condor_config"

    @property
    def signing_key(self) -> Path:
        """The POOL signing key (HTCondor's format), e.g. aglidein's `pool.signing_key`."""
        return self.base / "passwords.d" / "POOL"

    @property
    def job_dir(self) -> Path:
        """A mode-1777 directory for job sandboxes (writable by the pool user)."""
        return self.base / "jobs"

    @property
    def log_dir(self) -> Path:
        """Daemon logs (MasterLog, SchedLog, GridmanagerLog, ...)."""
        return self.base / "log"

    @property
    def env(self) -> dict[str, str]:
        """The environment for tools and bindings: os.environ + CONDOR_CONFIG + PATH."""
        env = dict(os.environ)
        env["CONDOR_CONFIG"] = str(self.config_path)
        env["PATH"] = f"{self.release.bin}:{self.release.sbin}:{env.get('PATH', '')}"
        return env

    # --- tools -------------------------------------------------------------------------
    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout: float = 60,
        input: str | None = None,
        as_pool_user: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a condor tool (`condor_q`, ...) against this instance; PoolError on failure
        when `check`. `as_pool_user`: run it as the daemons' user (e.g. to read the key)."""
        tool = argv[0]
        for folder in (self.release.bin, self.release.sbin):
            if (folder / tool).exists():
                tool = str(folder / tool)
                break
        command = [tool, *argv[1:]]
        if as_pool_user and self._as_user:
            command = ["runuser", "-u", self.user, "--", *command]
        try:
            done = subprocess.run(
                command,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                cwd=self.job_dir,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PoolError(f"{' '.join(argv)}: no answer within {timeout:g}s") from exc
        if check and done.returncode != 0:
            raise PoolError(
                f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip() or done.stdout}"
            )
        return done

    def query_json(self, *argv: str, timeout: float = 60) -> list[dict[str, Any]]:
        """A `-json` query tool's ads (`condor_q`, `condor_status`, `condor_history`)."""
        out = self.run(*argv, "-json", timeout=timeout).stdout.strip()
        return list(json.loads(out)) if out else []

    def jobs(
        self, constraint: str = "true", attrs: Iterable[str] = (), *, schedd: str = ""
    ) -> list[dict[str, Any]]:
        """Job ads in the queue of this instance's schedd (or of the one named `schedd`)."""
        projection = [*(("-name", schedd) if schedd else ()), "-constraint", constraint]
        projection += ["-attributes", ",".join(attrs)] if attrs else []
        return self.query_json("condor_q", "-allusers", *projection)

    def history(
        self, constraint: str = "true", attrs: Iterable[str] = (), *, schedd: str = ""
    ) -> list[dict[str, Any]]:
        """Job ads of finished jobs (condor_history; of the schedd named `schedd`)."""
        projection = [*(("-name", schedd) if schedd else ()), "-constraint", constraint]
        projection += ["-attributes", ",".join(attrs)] if attrs else []
        return self.query_json("condor_history", *projection)

    def startds(self, constraint: str = "true") -> list[dict[str, Any]]:
        """Slot ads in this instance's collector."""
        # plain condor_status lists slots; 25.x's `-startd` lists the StartDaemon ads
        return self.query_json("condor_status", "-constraint", constraint)

    def submit(
        self,
        description: Mapping[str, str] | str,
        *,
        count: int = 1,
        queue: str = "",
        timeout: float = 120,
    ) -> tuple[int, int]:
        """Submit user jobs with condor_submit (iwd: `job_dir`); (cluster, procs).

        `description` is a mapping of submit commands or submit-file text without `queue`;
        `queue` overrides the queue statement (default `queue <count>`)."""
        if isinstance(description, Mapping):
            text = "".join(f"{k} = {v}\n" for k, v in description.items())
        else:
            text = description.rstrip("\n") + "\n"
        text += (queue or f"queue {count}") + "\n"
        done = self.run("condor_submit", "-terse", "-", input=text, timeout=timeout)
        first, _, last = done.stdout.strip().splitlines()[-1].partition(" - ")
        cluster, first_proc = (int(x) for x in first.split("."))
        last_proc = int(last.split(".")[1]) if last else first_proc
        return cluster, last_proc - first_proc + 1

    def restart_schedd(self, timeout: float = 60) -> None:
        """Restart the schedd (its gridmanager and cached security sessions go with it)
        and return once the new one answers: the old one may still answer for a moment
        after `condor_restart`, so its process must be gone first."""
        old = set(self.daemon_pids("condor_schedd"))
        self.run("condor_restart", "-daemon", "schedd")
        wait_until(
            lambda: (
                not old & set(self.daemon_pids("condor_schedd"))
                and self.run("condor_q", "-totals", check=False).returncode == 0
            ),
            timeout=timeout,
            what=f"the schedd of {self.base} to answer again",
            diagnose=lambda: self.log_tail("MasterLog", "SchedLog"),
        )

    def switch_schedd(self, local_name: str, *, on: bool) -> None:
        """Stop (condor_off) or start again (condor_on) one of `spec.extra_schedds`."""
        if local_name not in self.spec.extra_schedds:
            raise PoolError(f"{local_name!r} is not an extra schedd of {self.spec.name}")
        self.run("condor_on" if on else "condor_off", "-daemon", schedd_subsystem(local_name))

    def daemon_pids(self, program: str, local_name: str | None = None) -> list[int]:
        """The pids of this instance's `program` (e.g. condor_schedd): its own daemon, or
        the one started with `-local-name local_name` (`spec.extra_schedds`)."""
        return daemon_pids(self.base, program, local_name)

    def mint_token(self, identity: str, *, lifetime: int | None = None) -> str:
        """An IDTOKEN signed by this pool's key for `identity` (user@domain)."""
        argv = ["condor_token_create", "-identity", identity, "-key", "POOL"]
        if lifetime is not None:
            argv += ["-lifetime", str(lifetime)]
        return self.run(*argv, as_pool_user=True).stdout.strip()

    def add_config(self, name: str, text: str, *, reconfig: bool = True) -> None:
        """Write `config.d/<name>` and (by default) tell the daemons to re-read it."""
        path = self.base / "config.d" / name
        path.write_text(text)
        path.chmod(0o644)
        if reconfig:
            self.run("condor_reconfig", "-daemon", "master")
            self.run("condor_reconfig", "-all", check=False)

    def log_tail(self, *names: str, lines: int = 30) -> str:
        """The last lines of daemon logs (all of them when no names), for failure messages."""
        paths = [self.log_dir / n for n in names] if names else sorted(self.log_dir.glob("*Log"))
        out = []
        for path in paths:
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"==> {path} <==\n" + "\n".join(tail))
        return "\n".join(out)

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def master_pid(self) -> int | None:
        """The condor_master pid while it is alive."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.base / "run" / "master.pid").read_text().strip())
            os.kill(pid, 0)
            return pid
        return None

    def start(self) -> None:
        """Write config and keys, then start condor_master (returns before it is ready)."""
        spools = tuple(f"spool.{name}" for name in self.spec.extra_schedds)
        for sub in ("log", "spool", "execute", "lock", "run", "cred", "config.d", "jobs", *spools):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        for secret in ("passwords.d", "tokens.d", "tokens.root.d"):
            (self.base / secret).mkdir(mode=0o700, exist_ok=True)
        self.base.chmod(0o755)
        (self.base / "jobs").chmod(0o1777)
        self.config_path.write_text(self._config_text())
        if self._as_user:
            for sub in ("log", "spool", "execute", "lock", "run", "cred", "passwords.d", *spools):
                _chown_tree(self.base / sub, self.user)
            _chown_tree(self.base / "tokens.d", self.user)
            os.chown(self.base / "jobs", *_ids(self.user))
        self._write_keys()
        master = [str(self.release.sbin / "condor_master"), "-pidfile", str(self._pidfile)]
        if self._as_user:
            master = ["runuser", "-u", self.user, "--", *master]
        env = {**self.env, "CONDOR_CONFIG": str(self.config_path)}
        done = subprocess.run(master, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PoolError(f"condor_master for {self.spec.name} failed: {done.stderr.strip()}")

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the collector lists this instance's schedd (and a slot if it has a
        startd)."""

        def ready() -> bool:
            if self.master_pid is None and (self._pidfile).exists():
                raise PoolError(f"{self.spec.name}: condor_master died\n{self.log_tail()}")
            want = {"-schedd"} if "SCHEDD" in self.spec.daemons else set()
            if "STARTD" in self.spec.daemons:
                want.add("-startd")
            if not want:
                want.add("-collector")
            for kind in want:
                argv = ["condor_status", "-af", "Name"]  # slots
                if kind != "-startd":
                    argv.insert(1, kind)
                done = self.run(*argv, check=False, timeout=20)
                if done.returncode != 0 or not done.stdout.strip():
                    return False
                if kind == "-schedd" and set(self.schedd_names) - set(done.stdout.split()):
                    return False
            return True

        wait_until(
            ready, timeout=timeout, what=f"the {self.spec.name} pool to come up",
            diagnose=self.log_tail,
        )  # fmt: skip

    def request_stop(self) -> None:
        """Ask the master for a fast shutdown (condor_off -fast -master); do not wait."""
        if self.master_pid is not None:
            self.run("condor_off", "-fast", "-master", check=False, timeout=20)

    def stop(self, timeout: float = 20) -> None:
        """Fast shutdown, then SIGKILL every process left of this instance (by pid)."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        while self.master_pid is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        kill_leftovers(self.base)

    @property
    def _pidfile(self) -> Path:
        return self.base / "run" / "master.pid"

    def _write_keys(self) -> None:
        if not self.signing_key.exists():
            password = secrets.token_hex(32)
            key = str(self.signing_key)
            self.run("condor_store_cred", "-f", key, "-p", password, as_pool_user=True)
        self.signing_key.chmod(0o600)
        token = self.mint_token(f"{self.user}@{self.trust_domain}")
        for folder in ("tokens.d", "tokens.root.d"):
            path = self.base / folder / "pool-user"
            path.write_text(token + "\n")
            path.chmod(0o600)
            if folder == "tokens.d" and self._as_user:
                os.chown(path, *_ids(self.user))

    def _config_text(self) -> str:
        spec = self.spec
        daemons = " ".join(("MASTER", *spec.daemons))
        return CONFIG_TEMPLATE.format(
            release=self.release.release_dir,
            bin=self.release.bin,
            sbin=self.release.sbin,
            lib=self.release.lib or self.release.release_dir / "lib",
            libexec=self.release.libexec or self.release.release_dir / "libexec",
            local=self.base,
            daemons=daemons,
            host=HOST,
            port=self.port,
            schedd=spec.name,
            trust=spec.trust_domain,
            user=self.user,
            cpus=spec.cpus,
            memory=spec.memory_mb,
            ids="CONDOR_IDS = {}.{}".format(*_ids(self.user)) if self._as_user else "",
            extra=extra_schedds_config(spec.extra_schedds, (spec.name,)) + "\n" + spec.extra_config,
        )


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(root: Path, user: str) -> None:
    uid, gid = _ids(user)
    os.chown(root, uid, gid)
    for path in root.rglob("*"):
        os.chown(path, uid, gid)
