"""Small GlideinWMS XML builders for the import-gwms tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aglidein.classad.evaluate import compile_expr
from aglidein.classad.facade import is_true, parse_expr
from aglidein.config import Config, parse_config_text
from aglidein.gwms import ImportResult, import_gwms
from tests.conftest import FIXTURES

GWMS = FIXTURES / "glideinwms"


def attr(name: str, value: str, kind: str = "string") -> str:
    """One `<attr>` element."""
    return (
        f'<attr name="{name}" const="True" glidein_publish="True" job_publish="False" '
        f'parameter="True" publish="True" type="{kind}" value="{value}"/>'
    )


def entry(
    name: str,
    *,
    gridtype: str = "condor",
    gatekeeper: str = "ce.example.org ce.example.org:9619",
    auth_method: str | None = "scitoken",
    enabled: str = "True",
    trust_domain: str = "grid",
    extra: str = "",
    config: str = "",
    attrs: str = "",
) -> str:
    """One `<entry>` element."""
    auth = f' auth_method="{auth_method}"' if auth_method is not None else ""
    return (
        f'<entry name="{name}" enabled="{enabled}" gridtype="{gridtype}" '
        f'gatekeeper="{gatekeeper}"{auth} trust_domain="{trust_domain}" work_dir="OSG" {extra}>\n'
        f"<config>{config}</config>\n<attrs>{attrs}</attrs>\n</entry>\n"
    )


def factory(*entries: str, root: str = "") -> str:
    """A factory file holding the entries."""
    return f"<glidein {root}>\n<entries>\n{''.join(entries)}</entries>\n</glidein>\n"


def write(directory: Path, name: str, text: str) -> Path:
    """Write a file and return its path."""
    path = directory / name
    path.write_text(text)
    return path


def run_import(
    directory: Path, *factory_texts: str, frontend: str | None = None
) -> tuple[Config, ImportResult]:
    """Import factory texts (written as f0.xml, f1.xml, ...) and validate like check-config."""
    paths = [write(directory, f"f{i}.xml", text) for i, text in enumerate(factory_texts)]
    front = write(directory, "frontend.xml", frontend) if frontend is not None else None
    result = import_gwms(paths, front)
    return parse_config_text(result.text).config, result


def frontend(
    groups: str = "", credentials: str = "", collector: str = "cm.example.org:9618"
) -> str:
    """A frontend file."""
    return f"""<frontend frontend_name="fe" loop_delay="60">
   <match match_expr="True" start_expr="True">
      <factory query_expr="True"/>
      <job query_expr="(JobUniverse==5)">
         <schedds><schedd fullname="schedd1.example.org"/></schedds>
      </job>
   </match>
   <security><credentials>{credentials}</credentials></security>
   <groups>{groups}</groups>
   <collectors><collector node="{collector}" secondary="False"/></collectors>
</frontend>
"""


def messages(result: ImportResult) -> str:
    """Every report line, joined."""
    return "\n".join(result.report.lines())


def classad_matches(expr: str, job: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """aglidein semantics: only true is a match; classad2 and aglidein.core agree."""
    oracle = is_true(parse_expr(expr).evaluate(job, attrs))
    lower = ({k.lower(): v for k, v in ad.items()} for ad in (job, attrs))
    assert is_true(compile_expr(expr).evaluate(*lower)) == oracle, expr
    return oracle
