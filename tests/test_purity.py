"""aglidein.core stays pure: no I/O modules, no other aglidein layers, no clock reads."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "aglidein" / "core"
FORBIDDEN_MODULES = {
    "anyio",
    "asyncio",
    "socket",
    "subprocess",
    "sqlite3",
    "classad2",
    "htcondor2",
    "time",
    "threading",
    "multiprocessing",
    "httpx",
    "os",
    "shutil",
    "urllib",
    "requests",
    "random",
    "secrets",
    "uuid",
}
FORBIDDEN_AGLIDEIN = (
    "aglidein.condor",
    "aglidein.services",
    "aglidein.store",
    "aglidein.daemon",
    "aglidein.state",
    "aglidein.clock",
    "aglidein.runtime",
)
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_imports_nothing_impure() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "core has modules"
    problems = []
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for name in _imports(tree):
            root = name.split(".")[0]
            if root in FORBIDDEN_MODULES or name.startswith(FORBIDDEN_AGLIDEIN):
                problems.append(f"{path.name}: imports {name}")
            if name == "pathlib" or name.startswith("io"):
                problems.append(f"{path.name}: imports {name} (I/O)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                value = node.func.value
                owner = value.id if isinstance(value, ast.Name) else getattr(value, "attr", "")
                if (owner, node.func.attr) in CLOCK_CALLS:
                    problems.append(f"{path.name}:{node.lineno}: reads the clock")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "open"
            ):
                problems.append(f"{path.name}:{node.lineno}: opens a file")
    assert problems == []


def test_the_purity_check_catches_offenders(tmp_path: Path) -> None:
    tree = ast.parse("import sqlite3\nfrom aglidein.condor.api import Pool\nimport time\n")
    assert {"sqlite3", "aglidein.condor.api", "time"} <= set(_imports(tree))
