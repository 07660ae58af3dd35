"""The platform's layers: no import loop, and a runtime library that needs no tooling.

`msa` outside `msa.tools` is what a deployed service loads; `msa.tools` is the runner,
CLI, chaos harness, generators and test helpers around it. Imports are read from the
source (every `import`, also inside functions; not those under `TYPE_CHECKING`), so a
loop cannot hide behind an import moved into a function.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "platform" / "src"
TOOLING = "msa.tools"


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SOURCE / "msa").rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        if "migrations" in parts:
            continue  # alembic's scripts, loaded by path
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The msa module that importing `name` runs last (a name inside a module → the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The msa modules `module` imports, at its top or inside its functions."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # for annotations only: never run
            if isinstance(child, ast.Import):
                found.update(t for alias in child.names if (t := _target(alias.name)))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                for alias in child.names:  # `from pkg import sub` imports the submodule
                    whole = f"{base}.{alias.name}"
                    target = whole if whole in MODULES else _target(base)
                    if target:
                        found.add(target)
            else:
                visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return found


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return loops


def test_no_module_of_msa_imports_one_that_imports_it_back():
    graph = {module: imports_of(module) for module in MODULES}
    assert sum(map(len, graph.values())) > 200  # the reader does find the imports
    assert _loops(graph) == []


def test_the_loop_finder_finds_a_loop():
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_runtime_library_imports_nothing_from_the_tooling():
    runtime = [module for module in MODULES
               if module != TOOLING and not module.startswith(f"{TOOLING}.")]
    assert {"msa.service", "msa.runtime", "msa.serve", "msa.messaging"} <= set(runtime)
    wrong = {module: sorted(t for t in imports_of(module) if t.startswith(TOOLING))
             for module in runtime}
    assert not {module: found for module, found in wrong.items() if found}


SERVICES_START = """
import sys
import msa
from msa.serve import build_service
from msa.system import load_system

assert msa.__file__.startswith(sys.argv[1]), msa.__file__
system = load_system(sys.argv[2])
for name in system.services:
    app, _ = build_service(name)
    assert app.state.runtime.name == name
loaded = sorted(m for m in sys.modules if m == "msa.tools" or m.startswith("msa.tools."))
assert not loaded, loaded
print(len(system.services))
"""


def test_every_service_builds_from_the_runtime_library_alone(tmp_path):
    """What a service image holds: msa without msa.tools, and the services' packages."""
    shutil.copytree(SOURCE / "msa", tmp_path / "msa",
                    ignore=shutil.ignore_patterns("tools", "__pycache__"))
    services = [str(folder) for folder in sorted((ROOT / "services").glob("*/src"))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *services]),
           "PYTHONSAFEPATH": "1", "MSA_ENV": "test", "MSA_DATA_DIR": str(tmp_path / "data"),
           "MSA_DATABASE_URL": "postgresql://nobody:unused-here@127.0.0.1:1/none",
           "MSA_NATS_URL": "nats://127.0.0.1:1"}
    # -S: not the virtualenv's editable install of the whole msa; its libraries come by path
    site = [path for path in sys.path if path.endswith("site-packages")]
    env["PYTHONPATH"] += os.pathsep + os.pathsep.join(site)
    built = subprocess.run(
        [sys.executable, "-S", "-c", SERVICES_START, str(tmp_path), str(ROOT / "system.toml")],
        env=env, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr[-3000:]
    assert int(built.stdout.strip()) >= 9
