"""Streaming reads of condor_q/condor_status -json dumps: same ads as a plain JSON load,
whatever the chunk size or layout; clear errors for what is not a dump."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aglidein.config import Config
from aglidein.core.demand import (
    exact_attrs,
    group_projection,
    group_shapes,
    schedd_projection,
)
from aglidein.core.shaper import Shaper
from aglidein.dumps import DumpError, iter_ad_batches, read_ads, shape_dump
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


# shape_dump: counts straight from the dump equal Shaper.add on every whole ad, whatever
# the chunk size, spellings, value types, nulls, lists or expressions in the dump.

MATCH = "stringListMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites) && MY.RequestCpus =?= 1"


def _config(match: str = MATCH, constraint: str = "JobUniverse == 5") -> Config:
    return Config.model_validate(
        {
            "factory": {"name": "f", "state_dir": "/tmp/x"},
            "pool": {"collector": "cm:9618", "trust_domain": "cm", "signing_key": "/k/POOL"},
            "groups": [
                {"name": "g", "schedds": ["s"], "match": match, "job_constraint": constraint}
            ],
            "entries": [{"name": "CE", "gridtype": "local", "attrs": {"GLIDEIN_Site": "A"}}],
        }
    )


def _write_dump(path: Path, ads: list[dict[str, Any]]) -> None:
    """condor_q -json's layout: one indented block per ad, `,` lines between."""
    blocks = [json.dumps(ad, indent=2).replace("/Expr(", "\\/Expr(") for ad in ads]
    path.write_text("[\n" + "\n,\n".join(blocks) + "\n]\n")


def _shapes(config: Config, shaper: Shaper) -> list[str]:
    group = config.groups[0]
    rows = group_shapes(shaper.counts(), group_projection(group), group.job_constraint)
    return sorted(
        repr(
            (tuple((n, type(v).__name__, v) for n, v in r.shape.attrs), r.shape, r.idle, r.running)
        )
        for r in rows
    )


def _both(config: Config, path: Path, chunk: int) -> tuple[list[str], list[str], int]:
    whole = Shaper(schedd_projection(config), exact_attrs(config))
    whole.add(read_ads(path))
    streamed = Shaper(schedd_projection(config), exact_attrs(config))
    jobs = shape_dump(path, streamed, chunk_bytes=chunk)
    return _shapes(config, whole), _shapes(config, streamed), jobs


def _job(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "ClusterId": i,
        "JobStatus": 1 + i % 2,
        "JobUniverse": 5,
        "DESIRED_Sites": "A, B" if i % 3 else "B",
        "RequestCpus": 1,
        "RequestMemory": 1000 * (1 + i % 2),
        "Cmd": "/bin/true",
        **extra,
    }


@pytest.mark.parametrize(
    "odd",
    [
        {},  # the projected decode throughout
        {"requestcpus": 1},  # another spelling of a projected name
        {"RequestCpus": 1.0},  # 1 and 1.0 in a column the match reads exactly
        {"RequestCpus": True},
        {"DESIRED_Sites": ["A"]},  # a list value (undefined)
        {"DESIRED_Sites": None},  # null
        {"RequestGpus": {"nested": 1}},  # a nested ad
        {"RequestMemory": "/Expr(ImageSize / 1024)/", "ImageSize": 2048000},  # widens
        {"JobUniverse": "/Expr(4 + 1)/"},
    ],
)
@pytest.mark.parametrize("chunk", [64, 4096, 1 << 20])
def test_shape_dump_counts_as_whole_ads_do(tmp_path: Path, odd: dict[str, Any], chunk: int) -> None:
    ads = [_job(i) for i in range(60)]
    ads[37] = {k: v for k, v in _job(37).items() if k.lower() not in {o.lower() for o in odd}}
    ads[37].update(odd)
    path = tmp_path / "jobs.json"
    _write_dump(path, ads)
    whole, streamed, jobs = _both(_config(), path, chunk)
    assert streamed == whole
    assert jobs == 60


@pytest.mark.parametrize(
    "layout",
    [
        "[{}]",  # compact: one run, brackets right at the ads
        "[\n{}\n]",  # condor_q's, without the final newline
        "  [ {} ]  ",  # blanks around
        "[{}\n]\n",
    ],
)
@pytest.mark.parametrize("chunk", [16, 300, 1 << 20])
def test_shape_dump_takes_any_list_layout(tmp_path: Path, layout: str, chunk: int) -> None:
    ads = [_job(i) for i in range(30)]
    path = tmp_path / "jobs.json"
    separator = ",\n" if "\n" in layout else ","
    blocks = [json.dumps(ad, indent=2 if "\n" in layout else None) for ad in ads]
    path.write_text(layout.replace("{}", separator.join(blocks)))
    whole, streamed, jobs = _both(_config(), path, chunk)
    assert streamed == whole
    assert jobs == 30


def test_shape_dump_keeps_null_and_missing_alike(tmp_path: Path) -> None:
    ads = [_job(i) for i in range(10)]
    ads[3]["Extra"] = None
    del ads[4]["RequestCpus"]
    ads[5]["RequestCpus"] = None
    path = tmp_path / "jobs.json"
    _write_dump(path, ads)
    config = _config("isUndefined(MY.RequestCpus) || MY.Extra =?= undefined")
    whole, streamed, _ = _both(config, path, 1 << 20)
    assert streamed == whole


def test_shape_dump_errors_like_read_ads(tmp_path: Path) -> None:
    shaper = Shaper(schedd_projection(_config()))
    for text in ("", "[\n]\n", "[]"):
        (tmp_path / "empty.json").write_text(text)
        assert shape_dump(tmp_path / "empty.json", shaper, chunk_bytes=2) == 0
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{\n  "A": 1\n}\n,\n{\n  "A": \n}\n]\n')
    with pytest.raises(DumpError, match="not a JSON ad dump"):
        shape_dump(broken, shaper)
    scalars = tmp_path / "scalars.json"
    scalars.write_text("[\n1\n,\n2\n]\n")
    with pytest.raises(DumpError, match="every ad must be a JSON object"):
        shape_dump(scalars, shaper)
    with pytest.raises(DumpError, match="cannot read"):
        shape_dump(tmp_path / "missing.json", shaper)
    bad = tmp_path / "long.ads"
    bad.write_text("ClusterId = 1\n")
    with pytest.raises(DumpError, match="not a JSON list of ads"):
        shape_dump(bad, shaper)


def test_shape_dump_sees_escaped_spellings(tmp_path: Path) -> None:
    ads = [_job(i) for i in range(10)]
    ads[4]["requestcpus"] = ads[4].pop("RequestCpus")
    path = tmp_path / "jobs.json"
    _write_dump(path, ads)
    path.write_text(path.read_text().replace('"requestcpus"', '"requestcpu\\u0073"'))
    whole, streamed, _ = _both(_config(), path, 1 << 20)
    assert streamed == whole
