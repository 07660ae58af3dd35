"""What `msa new service` is asked to make, checked against the system before anything
is written: a `Blueprint` exists only for a service that can be added as asked."""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from msa.errors import MsaError
from msa.events import registered_events
from msa.system import System

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9]{0,62}$")
FIRST_PORT = 8100


class ScaffoldError(MsaError):
    """The service cannot be made (or removed) as asked; nothing was written."""


@dataclass(frozen=True)
class Blueprint:
    """A new service, as asked and as it will fit into the system."""

    name: str
    team: str
    team_handle: str
    port: int
    database: bool = True
    publishes: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    description: str = ""
    publisher_of: dict[str, str] = field(default_factory=dict)
    package_of: dict[str, str] = field(default_factory=dict)
    consumed_classes: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())

    @property
    def title(self) -> str:
        return self.name.capitalize()

    @property
    def event_classes(self) -> dict[str, str]:
        """Published event type → the class name in contracts.py (`ItemCreated`)."""
        return {event: _class_name(event) for event in self.publishes}

    @property
    def consumer_functions(self) -> dict[str, str]:
        """Consumed event type → its handler's name in consumers.py."""
        return {event: "on_" + "_".join(event.split(".")[:3]) for event in self.consumes}

    @property
    def contract_packages(self) -> list[str]:
        """The packages whose published contracts this service imports."""
        return sorted({self.package_of[event] for event in self.consumes})


def plan(system: System, name: str, team: str, *, database: bool = True,
         publishes: list[str] | None = None, consumes: list[str] | None = None,
         calls: list[str] | None = None, description: str | None = None) -> Blueprint:
    """The blueprint for service `name`, or ScaffoldError saying why it cannot be made."""
    publishes, consumes, calls = list(publishes or []), list(consumes or []), list(calls or [])
    if not DNS_LABEL.match(name):
        raise ScaffoldError(f"{name!r} is not a DNS label (lower-case letters, digits and '-', "
                            "at most 63, starting and ending with a letter or digit)")
    if not SERVICE_NAME.match(name):
        raise ScaffoldError(f"{name!r}: a service name is also its Python package and database: "
                            "use lower-case letters and digits only, starting with a letter")
    if name in system.services or (system.root / "services" / name).exists():
        raise ScaffoldError(f"service {name!r} already exists")
    if keyword.iskeyword(name) or importlib.util.find_spec(name) is not None:
        raise ScaffoldError(f"{name!r} is already the name of an importable Python module")
    if team not in system.teams:
        raise ScaffoldError(f"unknown team {team!r} (known: {', '.join(system.teams)})")
    for callee in calls:
        if callee not in system.services:
            raise ScaffoldError(f"--calls: unknown service {callee!r}")
    for event in publishes:
        parts = event.split(".")
        if len(parts) != 4 or parts[0] != name or not re.match(
                r"^[a-z][a-z0-9_]*$", parts[1] + parts[2]) or not re.match(r"^v\d+$", parts[3]):
            raise ScaffoldError(f"--publishes: {event!r} must look like "
                                f"'{name}.entity.happened.v1'")
    if len(set(publishes)) != len(publishes) or len(set(consumes)) != len(consumes):
        raise ScaffoldError("an event is named twice")
    publisher_of, package_of, classes = {}, {}, {}
    for event in consumes:
        if event not in system.publisher_of:
            raise ScaffoldError(f"--consumes: unknown event {event!r} (no service publishes it)")
        publisher = system.services[system.publisher_of[event]]
        publisher_of[event], package_of[event] = publisher.name, publisher.package
        classes[event] = _contract_class(publisher.package, event)
    if not database and (publishes or consumes):
        raise ScaffoldError("a service that publishes or consumes events needs its database "
                            "(outbox and inbox live there): drop --no-database")
    team_spec = system.teams[team]
    return Blueprint(
        name=name, team=team, team_handle=team_spec.github or f"@{team}",
        port=_free_port(system), database=database, publishes=tuple(publishes),
        consumes=tuple(consumes), calls=tuple(calls),
        description=description or f"The {name} service of team {team}",
        publisher_of=publisher_of, package_of=package_of, consumed_classes=classes)


def _class_name(event: str) -> str:
    _, entity, happened, _ = event.split(".")
    return "".join(part.capitalize() for part in f"{entity}_{happened}".split("_"))


def _contract_class(package: str, event: str) -> str:
    try:
        importlib.import_module(f"{package}.contracts")
    except ModuleNotFoundError:
        raise ScaffoldError(f"{event!r}: {package} has no contracts module") from None
    found = registered_events().get(event)
    if found is None or found.__module__ != f"{package}.contracts":
        raise ScaffoldError(f"{event!r}: no schema class in {package}.contracts")
    return found.__name__


def _free_port(system: System) -> int:
    """The first port above every service's replicas, clear of the local servers."""
    taken = {port for svc in system.services.values() for port in svc.ports}
    taken |= {system.local.postgres_port, system.local.nats_port, system.local.nats_port + 1,
              system.local.prometheus_port}
    port = max([FIRST_PORT - 1, *(p for p in taken if p < 9000)]) + 1
    while port in taken:
        port += 1
    return port
