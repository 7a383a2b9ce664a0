"""Streaming reads of condor_q/condor_status -json dumps: same ads as a plain JSON load,
whatever the chunk size or layout; clear errors for what is not a dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aglidein.dumps import DumpError, iter_ad_batches, read_ads
from tests.conftest import FIXTURES


@pytest.mark.parametrize("name", ["schedd-jobs.json", "collector-startds.json"])
@pytest.mark.parametrize("chunk", [7, 64, 1000, 1 << 20])
def test_streamed_ads_equal_a_plain_load(name: str, chunk: int) -> None:
    path = FIXTURES / "classads" / name
    expected = json.loads(path.read_text())
    batches = list(iter_ad_batches(path, chunk_bytes=chunk))
    assert [ad for batch in batches for ad in batch] == expected
    if chunk < 1000:
        assert len(batches) > 1  # it really streams


def test_compact_layout_and_expressions(tmp_path: Path) -> None:
    ads = [{"A": i, "E": "\\/Expr(x + 1)\\/", "N": {"in": 1}} for i in range(5)]
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(ads).replace("\\\\/", "\\/"))
    got = read_ads(path)
    assert [ad["A"] for ad in got] == list(range(5))
    assert got[0]["E"] == "/Expr(x + 1)/"


def test_empty_and_bad_dumps(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert read_ads(empty) == []
    (tmp_path / "none.json").write_text("[\n]\n")
    assert read_ads(tmp_path / "none.json") == []
    bad = tmp_path / "long.ads"
    bad.write_text("ClusterId = 1\n")
    with pytest.raises(DumpError, match="not a JSON list of ads"):
        read_ads(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{\n  "A": 1\n}\n,\n{\n  "A": \n}\n]\n')
    with pytest.raises(DumpError, match="not a JSON ad dump"):
        read_ads(broken)
    with pytest.raises(DumpError, match="cannot read"):
        read_ads(tmp_path / "missing.json")
