"""CI per team: one GitHub Actions workflow per service, and one for the platform,
generated from system.toml by `msa docs` (`.github/workflows/<service>.yml`).

A service's workflow runs only when something it is built from changes: its folder, the
platform, the published contracts it imports (the `contracts.py` of the services its
pyproject depends on), its contract snapshots and the workspace lock. It checks the
contracts, runs the service's tests, builds and pushes its image, deploys the rendered
manifests to `dev`, then to `prod` (a GitHub environment: its required reviewers are
the approval). Every step is a `make` target of the repository's Makefile.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from msa.system import System

FOLDER = Path(".github") / "workflows"
GENERATED_GLOBS = (".github/workflows/*.yml",)
PLATFORM_WORKFLOW = "platform"
SHARED_PATHS = ("platform/**", "uv.lock", "Makefile")
"""What every service is built from besides its own folder."""


def documents(system: System) -> list[tuple[Path, str]]:
    """(path, text) of every workflow."""
    root = system.root / FOLDER
    found = [(root / f"{PLATFORM_WORKFLOW}.yml", render(platform_workflow(system)))]
    for name in system.services:
        found.append((root / f"{name}.yml", render(service_workflow(system, name))))
    return found


def render(workflow: dict[str, Any]) -> str:
    """YAML text of a workflow."""
    from msa.tools.monitoring.render import to_yaml

    return to_yaml(workflow)


def service_paths(system: System, name: str) -> list[str]:
    """The path filters of a service's workflow."""
    svc = system.service(name)
    folder = f"services/{svc.package}"
    paths = [f"{folder}/**", *SHARED_PATHS, f"contracts/{name}/**",
             f"{FOLDER.as_posix()}/{name}.yml"]
    for package in sorted(_workspace_dependencies(system.root / folder / "pyproject.toml")):
        if not (system.root / "services" / package).is_dir():
            continue
        contracts = f"services/{package}/src/{package}/contracts.py"
        # another service: only its published contract; a package the service runs
        # (e.g. the storefront the gateway mounts): all of it
        paths.append(contracts if (system.root / contracts).is_file()
                     else f"services/{package}/**")
    paths += [f"contracts/events/{event}.json" for event in [*svc.publishes, *svc.consumes]]
    return paths


def _workspace_dependencies(pyproject: Path) -> set[str]:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except OSError:
        return set()
    sources = data.get("tool", {}).get("uv", {}).get("sources", {})
    return {name for name, source in sources.items()
            if isinstance(source, dict) and source.get("workspace") and name != "msa"}


def _steps(*runs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"uses": "actions/checkout@v4"},
            {"name": "Install", "run": "make install"},
            *({"name": label, "run": command} for label, command in runs)]


def service_workflow(system: System, name: str) -> dict[str, Any]:
    """Test, image, deploy to dev, then to prod behind the `prod` environment's approval."""
    team = system.teams[system.service(name).team]
    paths = service_paths(system, name)
    image = {"REGISTRY": "${{ vars.IMAGE_REGISTRY }}", "TAG": "${{ github.sha }}"}
    return {
        "name": f"{name} (team {team.name})",
        "on": {"push": {"branches": ["main"], "paths": paths},
               "pull_request": {"paths": paths},
               "workflow_dispatch": {}},
        "concurrency": {"group": f"{name}-${{{{ github.ref }}}}", "cancel-in-progress": True},
        "permissions": {"contents": "read", "packages": "write"},
        "jobs": {
            "test": {
                "runs-on": "ubuntu-latest",
                "steps": _steps(("Contracts", "make contracts-check"),
                                ("Tests", f"make test-service SERVICE={name}")),
            },
            "image": {
                "needs": "test", "if": "github.event_name == 'push'",
                "runs-on": "ubuntu-latest", "env": image,
                "steps": _steps(("Build", f"make image SERVICE={name}"),
                                ("Push", f"make push-image SERVICE={name}")),
            },
            **{f"deploy-{env}": {
                "needs": previous, "runs-on": "ubuntu-latest",
                "environment": {"name": env}, "env": image,
                "steps": _steps(("Deploy", f"make deploy SERVICE={name} ENV={env}")),
            } for env, previous in (("dev", "image"), ("prod", "deploy-dev"))},
        },
    }


def platform_workflow(system: System) -> dict[str, Any]:
    """The platform's own pipeline: lint, types, generated documents, contracts, all tests."""
    platform_paths = ["platform/**", "system.toml", "Makefile", "pyproject.toml", "uv.lock",
                      "tests/**", "docs/**", "deploy/**", "contracts/**", ".ci/**",
                      f"{FOLDER.as_posix()}/{PLATFORM_WORKFLOW}.yml"]
    services = {svc.package for svc in system.services.values()}
    platform_paths += [f"services/{folder.name}/**"  # workspace packages that are no service
                       for folder in sorted((system.root / "services").glob("*"))
                       if (folder / "pyproject.toml").exists() and folder.name not in services]
    return {
        "name": f"platform ({system.system.name})",
        "on": {"push": {"branches": ["main"], "paths": platform_paths},
               "pull_request": {"paths": platform_paths},
               "workflow_dispatch": {}},
        "concurrency": {"group": "platform-${{ github.ref }}", "cancel-in-progress": True},
        "permissions": {"contents": "read"},
        "jobs": {
            "check": {"runs-on": "ubuntu-latest", "steps": _steps(("Check", "make check"))},
            "test": {"needs": "check", "runs-on": "ubuntu-latest",
                     "steps": _steps(("Tests", "make test"))},
        },
    }
