"""`msa new service` and `msa remove service`: a working service in one command, and
its exact undo.

`new_service` writes the service's package from `templates`/`testfiles`, registers it
in system.toml and the uv workspace, regenerates every generated document (`msa.tools.docs`:
CODEOWNERS, diagram, event catalog, monitoring, CI workflows, contract snapshots, and
whatever else is registered there) and snapshots its contracts, while `uv sync`
relocks the workspace and installs the package, so that the runner can start it at
once. Everything is checked before the first file is written.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path

from msa.system import System, load_system, parse_system
from msa.tools.scaffold import database, templates, testfiles, workspace
from msa.tools.scaffold.blueprint import Blueprint, ScaffoldError, plan

__all__ = ["Blueprint", "ScaffoldError", "files", "new_service", "plan", "remove_service"]


def files(bp: Blueprint) -> dict[str, str]:
    """The new service's files: path relative to services/NAME → text."""
    package = f"src/{bp.name}"
    made = {
        "pyproject.toml": templates.pyproject(bp),
        "README.md": templates.readme(bp),
        f"{package}/__init__.py": f'"""{bp.title}: {bp.description}."""\n',
        f"{package}/app.py": templates.app(bp),
        f"{package}/api.py": templates.api(bp),
        "tests/unit/test_" + ("domain" if bp.database else "api") + ".py": testfiles.unit(bp),
        "tests/integration/test_api.py": testfiles.integration(bp),
    }
    if bp.database:
        made |= {
            f"{package}/domain.py": templates.domain(bp),
            f"{package}/handlers.py": templates.handlers(bp),
            f"{package}/adapters.py": database.adapters(bp),
            f"{package}/migrations/env.py": database.MIGRATIONS_ENV,
            f"{package}/migrations/script.py.mako": database.MIGRATION_SCRIPT,
            f"{package}/migrations/versions/0001_{bp.name}.py": database.migration(bp),
        }
    if bp.publishes:
        made[f"{package}/contracts.py"] = templates.contracts(bp)
    if bp.consumes:
        made[f"{package}/consumers.py"] = templates.consumers(bp)
    return made


def new_service(system: System, bp: Blueprint, *, sync: bool = True) -> list[Path]:
    """Write the service, register it and regenerate what is generated; the paths written."""
    root = system.root
    system_file = root / "system.toml"
    new_text = workspace.add_service(system_file.read_text(encoding="utf-8"), bp,
                                     system.system.gateway)
    parse_system(new_text, system_file)  # refuse before writing if the result is invalid
    if sync:
        uv_command(root)  # refuse before writing if the package could not be installed
    folder = root / "services" / bp.name
    written = []
    try:
        for relative, text in files(bp).items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        system_file.write_text(new_text, encoding="utf-8")
        workspace.add_to_workspace(root / "pyproject.toml", bp.name)
        # uv installs the package while the documents are regenerated: these need only
        # the package's source folder (see `regenerate`), not its installation.
        relocking = Relock(root) if sync else None
        try:
            written += regenerate(root)
            written += record_contracts(root, bp.name)
        except BaseException:
            if relocking is not None:
                relocking.cancel()
            raise
        if relocking is not None:
            relocking.wait()
    except BaseException as failure:
        try:
            _undo(root, bp.name, system.system.gateway, list(bp.publishes), sync=sync)
        except ScaffoldError as undo_failure:  # e.g. uv failing again: say both, first first
            raise ScaffoldError(f"{failure}; undoing it: {undo_failure}") from failure
        raise
    return written


def remove_service(system: System, name: str, *, sync: bool = True) -> list[Path]:
    """Undo `new_service`: the folder, the registrations, the generated documents."""
    spec = system.service(name)
    if name == system.system.gateway:
        raise ScaffoldError(f"{name} is the gateway; it cannot be removed")
    users = [svc.name for svc in system.services.values()
             if svc.name not in (name, system.system.gateway)
             and (name in svc.calls or set(svc.consumes) & set(spec.publishes))]
    if users:
        raise ScaffoldError(f"{name} is still used by {', '.join(users)}")
    _undo(system.root, name, system.system.gateway, spec.publishes, sync=sync)
    return regenerate(system.root)


def _undo(root: Path, name: str, gateway: str, publishes: list[str], *, sync: bool) -> None:
    from msa.tools import contracts

    contracts.forget(root, name, publishes)
    system_file = root / "system.toml"
    text = system_file.read_text(encoding="utf-8")
    if f"[services.{name}]" in text:
        system_file.write_text(workspace.remove_service(text, name, gateway), encoding="utf-8")
    workspace.remove_from_workspace(root / "pyproject.toml", name)
    shutil.rmtree(root / "services" / name, ignore_errors=True)
    if sync:
        relock(root)


def regenerate(root: Path) -> list[Path]:
    """Every generated document, from the system.toml now on disk."""
    import sys

    from msa.tools import docs

    # A package installed a moment ago by `uv sync` is not on this process's path yet.
    for source in sorted((root / "services").glob("*/src")):
        if str(source) not in sys.path:
            sys.path.append(str(source))
    importlib.invalidate_caches()
    return docs.write(load_system(root / "system.toml"))


def record_contracts(root: Path, name: str) -> list[Path]:
    """Snapshot the new service's API and events (`msa contracts`): all of it is new."""
    from msa.tools import contracts

    return contracts.accept(load_system(root / "system.toml"), [name])


def uv_command(root: Path) -> str:
    """uv from the PATH, else the one `make` installs into .venv-tools."""
    found = shutil.which("uv") or str(root / ".venv-tools" / "bin" / "uv")
    if not Path(found).exists():
        raise ScaffoldError("uv is not installed: run `make install` first")
    return found


def relock(root: Path) -> None:
    """Relock and sync the workspace (`uv sync`), so the new package is importable."""
    Relock(root).wait()


class Relock:
    """`uv sync` of the workspace, running while the documents are regenerated."""

    def __init__(self, root: Path) -> None:
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(root / ".venv")}
        self._process = subprocess.Popen(
            [uv_command(root), "sync", "--quiet"], cwd=root, env=env, text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> None:
        """Until uv is done; ScaffoldError with uv's last line if it failed."""
        _, errors = self._process.communicate()
        if self._process.returncode != 0:
            last = (errors.strip().splitlines() or ["failed"])[-1]
            raise ScaffoldError(f"uv sync: {last}")

    def cancel(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()

