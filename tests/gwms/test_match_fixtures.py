"""The match_expr idioms, imported through the GlideinWMS fixtures, match like the Python.

Each idiom replaces the `main` group's match_expr of tests/fixtures/glideinwms/frontend.xml;
the imported group's `match` is evaluated (classad2, and aglidein.core's compiled form)
on every imported enabled entry and on sample jobs, and compared with what GlideinWMS
does: the factory query_expr `(GLIDEIN_Site=!=UNDEFINED)` picks entries, then the Python
expression runs with `job` and `glidein["attrs"]`, an exception meaning no match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aglidein.classad.evaluate import compile_expr
from aglidein.classad.facade import is_true, parse_expr
from aglidein.gwms import import_gwms
from tests.gwms.helpers import GWMS

FIXTURE_MATCH = """glidein["attrs"]["GLIDEIN_Site"] in job["DESIRED_Sites"].split(",")"""
JOB_MATCH_ATTRS = (
    '<match_attr name="DESIRED_Sites" type="string"/>'
    '<match_attr name="RequestCpus" type="int"/><match_attr name="Owner" type="string"/>'
)
FACTORY_MATCH_ATTRS = (
    '<match_attr name="GLIDEIN_Site" type="string"/>'
    '<match_attr name="GLIDEIN_CPUS" type="int"/>'
    '<match_attr name="GLIDEIN_Supported_VOs" type="string"/>'
)
IDIOMS = [
    FIXTURE_MATCH,
    'glidein["attrs"].get("GLIDEIN_Site") in job.get("DESIRED_Sites", "").split(",")',
    'glidein["attrs"]["GLIDEIN_Site"] not in job["DESIRED_Sites"].split(",")',
    'job.get("DESIRED_Sites") is None or glidein["attrs"]["GLIDEIN_Site"] in '
    'job["DESIRED_Sites"].split(",")',
    '"OSG" in glidein["attrs"].get("GLIDEIN_Supported_VOs", "").split(",") and '
    'job.get("Owner") != "root"',
    'glidein["attrs"].get("GLIDEIN_CPUS", 1) >= job.get("RequestCpus", 1)',
    'not (job.get("RequestCpus", 1) > 1 and glidein["attrs"].get("GLIDEIN_CPUS") is None)',
    'glidein["attrs"]["GLIDEIN_Site"] == "Test_Site_1" or job["Owner"] in ["alice", "bob"]',
]
JOBS: list[dict[str, Any]] = [
    {"DESIRED_Sites": "Test_Site_1,Test_Site_2", "RequestCpus": 1, "Owner": "alice"},
    {"DESIRED_Sites": "Test_Site_1, Test_Site_2", "RequestCpus": 2, "Owner": "root"},
    {"DESIRED_Sites": "Test_Site_2", "RequestCpus": 4},
    {"DESIRED_Sites": "", "Owner": "bob"},
    {"DESIRED_Sites": "Test_Site_HTCCE_2,,Test_Site_1", "RequestCpus": 1},
    {"RequestCpus": 1, "Owner": "carol"},
    {},
]


def python_matches(text: str, job: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """GlideinWMS: the factory query first, then eval; an exception is no match."""
    if "GLIDEIN_Site" not in attrs:
        return False
    try:
        return bool(eval(text, {"job": job, "glidein": {"attrs": attrs}}))
    except Exception:
        return False


def imported_match(tmp_path: Path, match_expr: str) -> tuple[str, list[dict[str, Any]]]:
    """Import the fixtures with the group's match_expr replaced: (match, enabled entry ads)."""
    text = (GWMS / "frontend.xml").read_text()
    assert text.count(FIXTURE_MATCH) == 1
    quoted = match_expr.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace(FIXTURE_MATCH, quoted)
    text = text.replace(
        '<match_attr name="DESIRED_Sites" type="string"/>', JOB_MATCH_ATTRS
    ).replace('<match_attr name="GLIDEIN_Site" type="string"/>', FACTORY_MATCH_ATTRS)
    frontend = tmp_path / "frontend.xml"
    frontend.write_text(text)
    files = [GWMS / n for n in ("glideinWMS.xml", "Dev_Sites.xml", "Dev_Sites2.xml")]
    result = import_gwms(files, frontend)
    data = yaml.safe_load(result.text)
    (group,) = data["groups"]
    entries = [e.get("attrs", {}) for e in data["entries"] if e["enabled"]]
    return group["match"], entries


@pytest.mark.parametrize("idiom", IDIOMS)
def test_idiom_on_the_fixtures_matches_like_python(tmp_path: Path, idiom: str) -> None:
    match, entries = imported_match(tmp_path, idiom)
    assert match != "false", "not translated"
    compiled = compile_expr(match)
    matched = 0
    for attrs in entries:
        for job in JOBS:
            want = python_matches(idiom, job, attrs)
            assert is_true(parse_expr(match).evaluate(job, attrs)) == want, (job, attrs)
            lower = [{k.lower(): v for k, v in ad.items()} for ad in (job, attrs)]
            assert is_true(compiled.evaluate(*lower)) == want, (job, attrs)
            matched += want
    assert 0 < matched < len(entries) * len(JOBS)  # the samples tell match from no match


def test_untranslatable_idiom_is_reported_with_file_and_line(tmp_path: Path) -> None:
    text = (
        (GWMS / "frontend.xml")
        .read_text()
        .replace(FIXTURE_MATCH, 'job["Owner"].lower() == "alice"')
    )
    frontend = tmp_path / "frontend.xml"
    frontend.write_text(text)
    result = import_gwms([GWMS / "Dev_Sites.xml"], frontend)
    assert (
        f"{frontend}:62: warning: group main: not translated, match set to false: match_expr "
        "'job[\"Owner\"].lower() == \"alice\"': unsupported call job['Owner'].lower()"
    ) in "\n".join(result.report.lines())
