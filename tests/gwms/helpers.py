"""Small GlideinWMS XML builders for the import-gwms tests."""

from __future__ import annotations

from pathlib import Path

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
