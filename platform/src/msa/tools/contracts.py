"""Contract snapshots and the check that stops one team's change from breaking another's.

Every service's OpenAPI document (split into its public and its internal routes) and
every event schema are snapshotted in the repository: `contracts/<service>/public.json`,
`contracts/<service>/internal.json`, `contracts/events/<event type>.json`.
`msa contracts check` compares what the working tree gives with them and reports each
breaking change with the consumers it breaks (from system.toml's calls and consumes):

- a removed route, or a removed or retyped field of a success response;
- a new required request field, query or path parameter;
- an event type gone, or an event field removed, retyped or newly required.

Additive changes (a new route, an optional request field, a new response field, a new
optional event field) pass. `msa contracts accept` records the working tree's contracts.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msa.system import System

FOLDER = "contracts"
EVENTS = "events"
_METHODS = ("get", "put", "post", "patch", "delete")
_PLACEHOLDER_DATABASE = "postgresql://contracts:only-for-reading-routes@127.0.0.1:9/contracts"


@dataclass(frozen=True)
class Breaking:
    """One breaking change: where, what, and the services it breaks."""

    where: str
    change: str
    consumers: tuple[str, ...]

    def __str__(self) -> str:
        who = ", ".join(self.consumers) or "no declared consumer"
        return f"{self.where}: {self.change} (breaks {who})"


def openapi_of(system: System, name: str) -> dict[str, Any]:
    """The OpenAPI document of service `name`, built without connecting to anything."""
    from msa.serve import load_factory
    from msa.settings import ServiceSettings

    spec = system.service(name)
    with tempfile.TemporaryDirectory(prefix="msa-contracts-") as data_dir:  # no secrets read
        settings = ServiceSettings(service=name, instance=f"{name}-contracts", env="test",
                                   database_url=_PLACEHOLDER_DATABASE if spec.database else None,
                                   data_dir=data_dir)
        document: dict[str, Any] = load_factory(spec.app)(settings, system=system).openapi()
    return document


def event_schemas(system: System) -> dict[str, dict[str, Any]]:
    """Every published event type → its JSON schema (from the publisher's contracts)."""
    import importlib

    from msa.events import registered_events

    for svc in system.services.values():
        if svc.publishes:
            importlib.import_module(f"{svc.package}.contracts")
    classes = registered_events()
    return {event: classes[event].model_json_schema()
            for event in sorted(system.publisher_of) if event in classes}


def snapshots(system: System, services: list[str] | None = None) -> dict[Path, Any]:
    """Path → document of the working tree's contracts (all, or those of `services`)."""
    root = system.root / FOLDER
    found: dict[Path, Any] = {}
    for name in services or list(system.services):
        document = openapi_of(system, name)
        for part, internal in (("public", False), ("internal", True)):
            paths = {path: item for path, item in document.get("paths", {}).items()
                     if path.startswith("/internal/") == internal}
            found[root / name / f"{part}.json"] = {**document, "paths": paths}
    for event, schema in event_schemas(system).items():
        if services is None or system.publisher_of[event] in services:
            found[root / EVENTS / f"{event}.json"] = schema
    return found


def accept(system: System, services: list[str] | None = None) -> list[Path]:
    """Record the working tree's contracts (of `services`, default all); the paths changed.
    Snapshots of services or events no longer in the system are removed when all are."""
    made = snapshots(system, services)
    changed = []
    for path, document in made.items():
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    if services is None:
        for path in sorted((system.root / FOLDER).rglob("*.json")):
            if path not in made:
                path.unlink()
                changed.append(path)
        for folder in sorted((system.root / FOLDER).glob("*/")):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return changed


def forget(repository: Path, name: str, events: list[str]) -> None:
    """Remove the snapshots of service `name` and of the events it published."""
    import shutil

    root = repository / FOLDER
    shutil.rmtree(root / name, ignore_errors=True)
    for event in events:
        (root / EVENTS / f"{event}.json").unlink(missing_ok=True)


def check(system: System) -> list[Breaking]:
    """The breaking changes between the snapshots and the working tree."""
    from msa.tools.contract_diff import openapi_breaks, schema_breaks

    root = system.root / FOLDER
    current = snapshots(system)
    found: list[Breaking] = []
    callers = {name: tuple(svc.name for svc in system.services.values() if name in svc.calls)
               for name in system.services}
    for path in sorted(root.glob("*/*.json")):
        if path.parent.name == EVENTS:
            continue
        name, part = path.parent.name, path.stem
        old = json.loads(path.read_text(encoding="utf-8"))
        new = current.get(path)
        users = callers.get(name, ())
        if part == "internal":
            users = tuple(user for user in users if user != system.system.gateway)
        if new is None:
            found.append(Breaking(f"{name} ({part})", "the service is gone", users))
            continue
        found += [Breaking(f"{name} {where}", change, users)
                  for where, change in openapi_breaks(old, new)]
    for path in sorted((root / EVENTS).glob("*.json")):
        event = path.stem
        consumers = tuple(system.consumers_of.get(event, []))
        new = current.get(path)
        if new is None:
            found.append(Breaking(event, "the event type is gone", consumers))
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        found += [Breaking(event, change, consumers)
                  for change in schema_breaks(old, new, old, new, "", reading=True,
                                              writing=True)]
    return found


def unrecorded(system: System) -> list[str]:
    """Services and events of the working tree without a snapshot yet."""
    root = system.root / FOLDER
    missing = [name for name in system.services if not (root / name / "public.json").exists()]
    return missing + [event for event in system.publisher_of
                      if not (root / EVENTS / f"{event}.json").exists()]
