"""The files glideins carry: one deterministic pilot tarball, the entry's attrs file,
private per-glidein tokens that go when their glidein does."""

from __future__ import annotations

import os
import stat
import tarfile
import time
from pathlib import Path

from aglidein.config import EntryConfig
from aglidein.services.glidein_files import PilotKit
from tests.adapter_helpers import idtoken_entry, placeholder_pilot


def _entry(**attrs: str) -> EntryConfig:
    return EntryConfig.model_validate({"name": "CE_A", **idtoken_entry("SiteA"), "attrs": attrs})


def test_the_pilot_tarball_is_named_by_its_content_and_built_once(tmp_path: Path) -> None:
    source = placeholder_pilot(tmp_path)
    kit = PilotKit(tmp_path / "state", source)
    kit.prepare()
    (tarball,) = (tmp_path / "state" / "pilot").glob("glidein-*.tar.gz")
    PilotKit(tmp_path / "state", source).prepare()  # same content: same name, kept
    assert list((tmp_path / "state" / "pilot").glob("glidein-*.tar.gz")) == [tarball]
    with tarfile.open(tarball) as tar:
        assert "glidein/glidein_startup.sh" in tar.getnames()
        assert {m.mtime for m in tar.getmembers()} == {0}
    (source / "lib" / "log.sh").write_text("# changed\n")
    kit.prepare()
    (changed,) = (tmp_path / "state" / "pilot").glob("glidein-*.tar.gz")
    assert changed != tarball  # the old one is gone


def test_attrs_are_rewritten_only_when_they_change(tmp_path: Path) -> None:
    kit = PilotKit(tmp_path / "state", placeholder_pilot(tmp_path))
    files = kit.pilot_files(_entry(GLIDEIN_Site="SiteA"))
    attrs = Path(files.attrs_file)
    assert attrs.read_text() == "GLIDEIN_Site='SiteA'\n"
    os.utime(attrs, (0, 0))
    kit.pilot_files(_entry(GLIDEIN_Site="SiteA"))
    assert attrs.stat().st_mtime == 0
    kit.pilot_files(_entry(GLIDEIN_Site="SiteB"))
    assert attrs.read_text() == "GLIDEIN_Site='SiteB'\n"


def test_tokens_of_glideins_gone_from_the_queue_are_pruned(tmp_path: Path) -> None:
    kit = PilotKit(tmp_path / "state", placeholder_pilot(tmp_path))
    kit.pilot_files(_entry())
    tokens = kit.entry_dir("CE_A") / "tokens"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o700  # the gridmanager's, no one else's
    for name in ("live", "gone", "fresh"):
        for suffix in (".idtoken", ".logtoken"):
            (tokens / f"{name}{suffix}").write_text("t")
    old = time.time() - 3600
    for path in tokens.glob("[lg]*"):
        os.utime(path, (old, old))
    assert kit.prune_tokens({"live"}) == 2
    assert sorted(p.name for p in tokens.iterdir()) == [
        "fresh.idtoken",
        "fresh.logtoken",
        "live.idtoken",
        "live.logtoken",
    ]
    kit.remove_tokens("CE_A", ["live"])
    assert not (tokens / "live.idtoken").exists()
