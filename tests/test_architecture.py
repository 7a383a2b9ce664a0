"""The layers of architecture.toml hold: every module has a layer, imports point down,
nothing imports in a cycle, core stays pure and classad2/htcondor2 enter through one door.

The import graph comes from the AST of every module: absolute and relative imports,
imports inside functions (lazy ones still tie the modules) and under `if TYPE_CHECKING:`
(a type-only import still makes a reader of one module read the other; a Protocol in the
imported-from module is the way out, see store/retention.py).
"""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LAYERS_FILE = ROOT / "architecture.toml"

# Calls that read the wall clock: a pure module takes `now` as a parameter instead.
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target: an aglidein module or a third-party top name."""

    target: str
    line: int
    internal: bool


@dataclass
class Module:
    """What the checks need of one module: its imports and its pure-ness offences."""

    name: str
    imports: list[Import] = field(default_factory=list)
    clock_reads: list[int] = field(default_factory=list)
    file_opens: list[int] = field(default_factory=list)


# --- building the graph ------------------------------------------------------------------


def source_modules(src: Path = SRC) -> dict[str, tuple[str, bool]]:
    """Module name -> (source text, is a package) for every module under `src/aglidein`."""
    found: dict[str, tuple[str, bool]] = {}
    for path in sorted((src / "aglidein").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path.read_text(), is_package)
    return found


def _resolve(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _nearest(target: str, known: Mapping[str, object]) -> str:
    """`aglidein.config.Config` -> `aglidein.config`: the longest known module prefix."""
    while target not in known and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def parse_modules(sources: Mapping[str, tuple[str, bool]]) -> dict[str, Module]:
    """The import graph (and the pure-ness facts) of modules given by name and source."""
    modules: dict[str, Module] = {}
    for name, (text, is_package) in sources.items():
        module = Module(name)
        tree = ast.parse(text, name)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base
                    for a in node.names
                ]
            for target in targets:
                internal = target.split(".")[0] == "aglidein"
                if internal:
                    target = _nearest(target, sources)
                    if target == name:
                        continue
                module.imports.append(Import(target, node.lineno, internal))
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute):
                    owner = func.value
                    owner_name = owner.id if isinstance(owner, ast.Name) else ""
                    owner_name = owner_name or getattr(owner, "attr", "")
                    if (owner_name, func.attr) in CLOCK_CALLS:
                        module.clock_reads.append(node.lineno)
                elif isinstance(func, ast.Name) and func.id == "open":
                    module.file_opens.append(node.lineno)
        modules[name] = module
    return modules


# --- the rules ---------------------------------------------------------------------------


def _matches(name: str, patterns: list[str]) -> bool:
    return any(name == p or ("*" in p and fnmatch.fnmatchcase(name, p)) for p in patterns)


def layer_of(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> dict[str, str]:
    """Module -> its layer, for the modules that match exactly one layer."""
    found: dict[str, str] = {}
    for name in modules:
        layers = [lay for lay, spec in rules["layers"].items() if _matches(name, spec["modules"])]
        if len(layers) == 1:
            found[name] = layers[0]
    return found


def _layer_problems(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> Iterator[str]:
    layers = rules["layers"]
    for name in sorted(modules):
        owners = [lay for lay, spec in layers.items() if _matches(name, spec["modules"])]
        if not owners:
            yield (
                f"{name} has no layer: add {name!r} (or a glob covering it) to the `modules`"
                f" of its layer in architecture.toml ({', '.join(layers)})"
            )
        elif len(owners) > 1:
            yield f"{name} is in several layers ({', '.join(owners)}): keep it in one"
    for layer, spec in layers.items():
        for pattern in spec["modules"]:
            if not any(_matches(name, [pattern]) for name in modules):
                yield f"layer {layer}: pattern {pattern!r} matches no module (moved? remove it)"
        for lower in spec["may_import"]:
            if lower not in layers:
                yield f"layer {layer}: may_import names an unknown layer {lower!r}"


def _arrow_problems(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> Iterator[str]:
    layers = rules["layers"]
    of = layer_of(modules, rules)
    for name in sorted(modules):
        if name not in of:
            continue
        allowed = {of[name], *layers[of[name]]["may_import"]}
        for imp in modules[name].imports:
            if imp.internal and imp.target in of and of[imp.target] not in allowed:
                yield (
                    f"{name}:{imp.line} ({of[name]}) imports {imp.target} ({of[imp.target]}):"
                    f" {of[name]} may import only {', '.join(sorted(allowed))}"
                )


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_of(name: str) -> str:
    """The unit of the package-cycle check: a subpackage of aglidein, or a top module."""
    return ".".join(name.split(".")[:2])


def _cycle_problems(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> Iterator[str]:
    graph = {
        name: {i.target for i in m.imports if i.internal and i.target in modules}
        for name, m in modules.items()
    }
    for cycle in _cycles(graph):
        yield f"import cycle between modules: {' <-> '.join(cycle)}"
    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        own = package_of(name)
        packages.setdefault(own, set()).update(
            package_of(t) for t in targets if package_of(t) != own
        )
    allowed = [sorted(c) for c in rules.get("cycles", {}).get("allowed_package_cycles", [])]
    found = _cycles(packages)
    for cycle in found:
        if cycle not in allowed:
            yield f"import cycle between packages: {' <-> '.join(cycle)}"
    for cycle in allowed:
        if cycle not in found:
            yield f"allowed_package_cycles lists {cycle}, no longer a cycle: remove it"


def _purity_problems(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> Iterator[str]:
    purity = rules["purity"]
    forbidden = set(purity["forbidden_imports"])
    for name in sorted(modules):
        if not _matches(name, purity["modules"]):
            continue
        module = modules[name]
        for imp in module.imports:
            parts = imp.target.split(".")
            if any(".".join(parts[:n]) in forbidden for n in range(1, len(parts) + 1)):
                yield f"{name}:{imp.line} must stay pure but imports {imp.target}"
        for line in module.clock_reads:
            yield f"{name}:{line} must stay pure but reads the clock (take `now` instead)"
        for line in module.file_opens:
            yield f"{name}:{line} must stay pure but opens a file"


def _door_problems(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> Iterator[str]:
    doors: Mapping[str, list[str]] = rules["doors"]
    for name in sorted(modules):
        for imp in modules[name].imports:
            root = imp.target.split(".")[0]
            if not imp.internal and root in doors and name not in doors[root]:
                yield (
                    f"{name}:{imp.line} imports {imp.target}: only {', '.join(doors[root])}"
                    " may (use the facade)"
                )


def problems(modules: Mapping[str, Module], rules: Mapping[str, Any]) -> list[str]:
    """Every breach of `rules` (architecture.toml) by the import graph `modules`."""
    checks = (_layer_problems, _arrow_problems, _cycle_problems, _purity_problems, _door_problems)
    return [p for check in checks for p in check(modules, rules)]


def mirrored_test(module: str) -> str:
    """Where a module's tests live: `aglidein.x.y` -> `tests/x/test_y.py`."""
    parts = module.split(".")[1:]
    return "/".join(["tests", *parts[:-1], f"test_{parts[-1]}.py"])


def mirror_problems(
    modules: Mapping[str, tuple[str, bool]], tests: set[str], rules: Mapping[str, Any]
) -> list[str]:
    """Modules (not packages, not `__main__`) without a test module at the mirrored path
    and not in `[tests.not_mirrored]`; entries of that list that are stale."""
    listed: Mapping[str, str] = rules.get("tests", {}).get("not_mirrored", {})
    out = []
    for name, (_, is_package) in sorted(modules.items()):
        if is_package or name.endswith(".__main__"):
            continue
        has_test = mirrored_test(name) in tests
        if not has_test and name not in listed:
            out.append(
                f"{name} has no test module: add {mirrored_test(name)}, or list it under"
                " [tests.not_mirrored] in architecture.toml with where it is tested"
            )
        elif has_test and name in listed:
            out.append(f"{name} has {mirrored_test(name)}: remove it from [tests.not_mirrored]")
    for name in sorted(set(listed) - set(modules)):
        out.append(f"[tests.not_mirrored] lists {name}, which is not a module: remove it")
    for name, reason in sorted(listed.items()):
        if not reason.strip():
            out.append(f"[tests.not_mirrored] {name}: say where it is tested or why not")
    return out


def existing_test_modules(root: Path = ROOT) -> set[str]:
    """The test modules of the repository, as `tests/x/test_y.py` paths."""
    return {str(p.relative_to(root)) for p in (root / "tests").rglob("test_*.py")}


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(qualified name, lines) of every function, methods as `Class.name`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            yield f"{prefix}{node.name}", lines
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")


def size_problems(sources: Mapping[str, tuple[str, bool]], rules: Mapping[str, Any]) -> list[str]:
    """Modules and functions over the limits of `[size]`, and stale `[size.over]` entries."""
    size = rules["size"]
    listed: Mapping[str, str] = size.get("over", {})
    found: list[tuple[str, str]] = []
    for name, (text, _) in sorted(sources.items()):
        lines = len(text.splitlines())
        if lines > size["max_module_lines"]:
            found.append((name, f"{name} has {lines} lines (> {size['max_module_lines']})"))
        for function, length in _functions(ast.parse(text, name)):
            if length > size["max_function_lines"]:
                limit = size["max_function_lines"]
                found.append(
                    (f"{name}:{function}", f"{name}:{function} has {length} lines (> {limit})")
                )
    out = [f"{text}: split it by responsibility" for key, text in found if key not in listed]
    keys = {key for key, _ in found}
    out += [
        f"[size.over] lists {key}, no longer over: remove it" for key in listed if key not in keys
    ]
    return out


def load_rules(path: Path = LAYERS_FILE) -> dict[str, Any]:
    """architecture.toml, parsed."""
    return tomllib.loads(path.read_text())


# --- the tests ---------------------------------------------------------------------------


def test_the_source_tree_keeps_its_layers() -> None:
    modules = parse_modules(source_modules())
    assert len(modules) > 50, "the walk found the package"
    assert problems(modules, load_rules()) == []


def test_every_module_has_its_tests_at_the_mirrored_path_or_says_where() -> None:
    assert mirror_problems(source_modules(), existing_test_modules(), load_rules()) == []


def test_the_mirror_check_names_what_is_missing_and_what_is_stale() -> None:
    modules = {"aglidein.a": ("", False), "aglidein.b.c": ("", False), "aglidein.b": ("", True)}
    rules = {"tests": {"not_mirrored": {"aglidein.a": "in x", "aglidein.gone": "y"}}}
    assert mirror_problems(modules, {"tests/test_a.py"}, rules) == [
        "aglidein.a has tests/test_a.py: remove it from [tests.not_mirrored]",
        "aglidein.b.c has no test module: add tests/b/test_c.py, or list it under"
        " [tests.not_mirrored] in architecture.toml with where it is tested",
        "[tests.not_mirrored] lists aglidein.gone, which is not a module: remove it",
    ]


def test_modules_and_functions_stay_readable_in_one_sitting() -> None:
    assert size_problems(source_modules(), load_rules()) == []


def test_the_size_check_names_what_is_too_long_and_what_is_stale() -> None:
    long_function = "def f():\n" + "    x = 1\n" * 5 + "class C:\n    def g(self):\n        pass\n"
    sources = {"aglidein.a": (long_function, False), "aglidein.b": ("x = 1\n" * 10, False)}
    rules = {
        "size": {
            "max_module_lines": 9,
            "max_function_lines": 3,
            "over": {"aglidein.b": "being split", "aglidein.c:h": "gone"},
        }
    }
    assert size_problems(sources, rules) == [
        "aglidein.a:f has 6 lines (> 3): split it by responsibility",
        "[size.over] lists aglidein.c:h, no longer over: remove it",
    ]


def test_every_layer_is_named_and_core_is_pure_by_rule() -> None:
    rules = load_rules()
    assert list(rules["layers"]) == ["shell", "services", "adapters", "core", "base"]
    assert rules["layers"]["core"]["may_import"] == ["base"]
    assert {"anyio", "time", "os", "sqlite3", "classad2"} <= set(
        rules["purity"]["forbidden_imports"]
    )


# A small fake package: one of each offence, to show the checker cannot pass vacuously.
PLANTED = {
    "aglidein": ("", True),
    "aglidein.core": ("", True),
    "aglidein.core.pure": (
        "from __future__ import annotations\n"
        "import time\n"
        "from datetime import datetime\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from aglidein.services.svc import Service\n"
        "def f():\n"
        "    open('x')\n"
        "    return datetime.now()\n",
        False,
    ),
    "aglidein.services": ("", True),
    "aglidein.services.svc": ("from . import other\nfrom ..runtime import Runtime\n", False),
    "aglidein.services.other": ("from .svc import x\nimport htcondor2\n", False),
    "aglidein.services.metrics": ("", False),
    "aglidein.runtime": ("from aglidein.services.metrics import Metrics\n", False),
    "aglidein.stray": ("import aglidein.core.pure\n", False),
}
PLANTED_RULES: dict[str, Any] = {
    "layers": {
        "services": {
            "may_import": ["core"],
            "modules": ["aglidein.runtime", "aglidein.services", "aglidein.services.*"],
        },
        "core": {"may_import": [], "modules": ["aglidein", "aglidein.core", "aglidein.core.*"]},
        "base": {"may_import": [], "modules": ["aglidein.gone"]},
    },
    "purity": {"modules": ["aglidein.core.*"], "forbidden_imports": ["time", "aglidein.services"]},
    "doors": {"htcondor2": ["aglidein.classad.facade"]},
    "cycles": {"allowed_package_cycles": [["aglidein.core", "aglidein.gwms"]]},
}


def test_the_checker_catches_planted_offences() -> None:
    found = problems(parse_modules(PLANTED), PLANTED_RULES)
    assert found == [
        "aglidein.stray has no layer: add 'aglidein.stray' (or a glob covering it) to the"
        " `modules` of its layer in architecture.toml (services, core, base)",
        "layer base: pattern 'aglidein.gone' matches no module (moved? remove it)",
        "aglidein.core.pure:6 (core) imports aglidein.services.svc (services):"
        " core may import only core",
        "import cycle between modules: aglidein.services.other <-> aglidein.services.svc",
        "import cycle between packages: aglidein.runtime <-> aglidein.services",
        "allowed_package_cycles lists ['aglidein.core', 'aglidein.gwms'], no longer a cycle:"
        " remove it",
        "aglidein.core.pure:2 must stay pure but imports time",
        "aglidein.core.pure:6 must stay pure but imports aglidein.services.svc",
        "aglidein.core.pure:9 must stay pure but reads the clock (take `now` instead)",
        "aglidein.core.pure:8 must stay pure but opens a file",
        "aglidein.services.other:2 imports htcondor2: only aglidein.classad.facade may (use the facade)",
    ]


def test_relative_and_lazy_imports_resolve_to_modules() -> None:
    modules = parse_modules(PLANTED)
    assert [i.target for i in modules["aglidein.services.svc"].imports] == [
        "aglidein.services.other",
        "aglidein.runtime",
    ]
    assert "aglidein.services.svc" in {i.target for i in modules["aglidein.core.pure"].imports}
    assert [i.target for i in modules["aglidein.stray"].imports] == ["aglidein.core.pure"]


def test_a_module_in_two_layers_is_named() -> None:
    rules = {
        **PLANTED_RULES,
        "layers": {
            "a": {"may_import": [], "modules": ["aglidein", "aglidein.*"]},
            "b": {"may_import": [], "modules": ["aglidein.core.pure"]},
        },
    }
    found = problems(parse_modules(PLANTED), rules)
    assert "aglidein.core.pure is in several layers (a, b): keep it in one" in found
