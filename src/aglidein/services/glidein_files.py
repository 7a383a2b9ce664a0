"""The files glideins carry (DESIGN §6), prepared on disk under `state_dir`.

- `state_dir/pilot/glidein-<sha256>.tar.gz`: the `glidein/` directory, built once per
  daemon start (deterministic: sorted names, zero mtimes, so the name only changes
  when the content does), and `glidein_startup.sh` beside it;
- `state_dir/glideins/<entry>/attrs`: the entry's attrs (rewritten when they change;
  `attrs.<group>` for a group with its own `start_expr`), and the cluster's output,
  error and user-log files;
- `state_dir/glideins/<entry>/tokens/<id>.idtoken|.logtoken`: per-glidein tokens, 0600,
  deleted once the glidein has left the queue.

Blocking file work: call these methods in a worker thread.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import structlog

from aglidein.config import Config, EntryConfig, GroupConfig
from aglidein.core.submit import GlideinFiles, PilotFiles, render_attrs_file
from aglidein.errors import AglideinError
from aglidein.logkeys import atomic_write
from aglidein.ownership import JobOwner, give

__all__ = ["PilotKit", "TokenWriter", "default_pilot_source"]

log = structlog.get_logger()

# (config, entry, glidein id, directory, now) -> (idtoken file, log token file), both 0600
TokenWriter = Callable[[Config, EntryConfig, str, Path, float], tuple[Path, Path]]


def default_pilot_source() -> Path:
    """The `glidein/` directory: installed with the wheel, or the source checkout's."""
    installed = Path(str(resources.files("aglidein") / "glidein"))
    if (installed / "glidein_startup.sh").is_file():
        return installed
    return Path(__file__).resolve().parents[3] / "glidein"


@dataclass(frozen=True, slots=True)
class _Built:
    startup: Path
    tarball: Path


class PilotKit:
    """Builds the pilot files once and writes per-entry and per-glidein files."""

    def __init__(
        self, state_dir: Path, source: Path | None = None, owner: JobOwner | None = None
    ) -> None:
        self.state_dir = state_dir
        self.source = source or default_pilot_source()
        self.owner = owner  # files the gridmanager reads or writes go to this user
        self._built: _Built | None = None

    def _dir(self, path: Path, mode: int) -> Path:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        give(path, self.owner)
        return path

    def prepare(self) -> None:
        """Build the tarball and install the startup script (idempotent)."""
        startup = self.source / "glidein_startup.sh"
        if not startup.is_file():
            raise AglideinError(f"the pilot is missing: no {startup}")
        data = _deterministic_tarball(self.source)
        digest = hashlib.sha256(data).hexdigest()
        target = self._dir(self.state_dir / "pilot", 0o755)
        tarball = target / f"glidein-{digest}.tar.gz"
        if not tarball.exists():
            atomic_write(tarball, data, 0o644)
        installed = target / "glidein_startup.sh"
        if not installed.exists() or installed.read_bytes() != startup.read_bytes():
            atomic_write(installed, startup.read_bytes(), 0o755)
        give(tarball, self.owner)
        give(installed, self.owner)
        for old in target.glob("glidein-*.tar.gz"):
            if old != tarball:
                old.unlink(missing_ok=True)
        self._built = _Built(startup=installed, tarball=tarball)
        log.info("pilot.prepared", tarball=tarball.name, source=str(self.source))

    def entry_dir(self, entry: str) -> Path:
        """Where an entry's glidein files live."""
        return self.state_dir / "glideins" / entry

    def pilot_files(self, entry: EntryConfig, group: GroupConfig | None = None) -> PilotFiles:
        """Script, tarball and the (re)written attrs file for `entry` (`attrs.<group>` when
        the group has its own `start_expr`)."""
        if self._built is None:
            self.prepare()
        assert self._built is not None
        directory = self.entry_dir(entry.name)
        self._dir(directory.parent, 0o755)
        self._dir(directory, 0o755)
        self._dir(directory / "tokens", 0o700)
        own = group is not None and group.start_expr is not None
        attrs = directory / (f"attrs.{group.name}" if own and group is not None else "attrs")
        text = render_attrs_file(entry, group).encode()
        if not attrs.exists() or attrs.read_bytes() != text:
            atomic_write(attrs, text, 0o644)
            give(attrs, self.owner)
        return PilotFiles(
            startup=str(self._built.startup),
            tarball=str(self._built.tarball),
            attrs_file=str(attrs),
        )

    def write_tokens(
        self,
        writer: TokenWriter,
        config: Config,
        entry: EntryConfig,
        glidein_ids: Collection[str],
        now: float,
    ) -> list[GlideinFiles]:
        """Mint and write the token files of new glideins."""
        directory = self.entry_dir(entry.name) / "tokens"
        self._dir(directory, 0o700)
        out = []
        for glidein_id in glidein_ids:
            idtoken, log_token = writer(config, entry, glidein_id, directory, now)
            give(idtoken, self.owner)
            give(log_token, self.owner)
            out.append(GlideinFiles(glidein_id, str(idtoken), str(log_token)))
        return out

    def remove_tokens(self, entry: str, glidein_ids: Collection[str]) -> None:
        """Delete the token files of these glideins."""
        directory = self.entry_dir(entry) / "tokens"
        for glidein_id in glidein_ids:
            for suffix in (".idtoken", ".logtoken"):
                (directory / f"{glidein_id}{suffix}").unlink(missing_ok=True)

    def prune_tokens(self, live: Collection[str], *, older_than: float = 600.0) -> int:
        """Delete token files of glideins no longer in the queue; how many were deleted.

        Files younger than `older_than` seconds are kept: their submission may be in flight.
        """
        root = self.state_dir / "glideins"
        if not root.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in root.glob("*/tokens/*"):
            if path.stem in live or path.suffix not in (".idtoken", ".logtoken"):
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def clean_entry(self, entry: str) -> None:
        """Forget an entry's directory entirely (used by tests and after removal)."""
        shutil.rmtree(self.entry_dir(entry), ignore_errors=True)


def _deterministic_tarball(source: Path) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in source.rglob("*") if "__pycache__" not in p.parts):
            info = tar.gettarinfo(
                str(path), arcname=str(Path("glidein") / path.relative_to(source))
            )
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if os.access(path, os.X_OK) or path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()
