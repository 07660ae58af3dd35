"""What to start: ports, commands and environments of every service process.

Pure functions of the system description and the runner's options, so the same
plan serves `msa up`, the detached supervisor and the test fixtures.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from msa.errors import ConfigError
from msa.system import System
from msa.tools.runner.ports import HOST, free_port

Mode = Literal["process", "monolith"]
MODES: tuple[Mode, ...] = ("process", "monolith")
MONOLITH = "monolith"
CommandFactory = Callable[[str], Sequence[str]]
"""Maps a service name (or "monolith") to the command that serves it."""

SHARED_PORT_VARIABLE = "MSA_SHARED_PORT"
"""A monolith worker serves the system on this port too, shared with the other workers
(SO_REUSEPORT: the kernel spreads connections over them); MSA_PORT is its own."""
# Variables we set; inherited values of these are dropped so nothing stale leaks in.
_OURS = ("MSA_SERVICE", "MSA_INSTANCE", "MSA_PORT", "MSA_HOST", "MSA_ENV", "MSA_SYSTEM_FILE",
         "MSA_DATABASE_URL", "MSA_NATS_URL", "MSA_ADDRESSES", "MSA_DATA_DIR",
         SHARED_PORT_VARIABLE)


WORKERS_VARIABLE = "MSA_MONOLITH_WORKERS"


def default_workers() -> int:
    """Monolith workers when none are asked for: $MSA_MONOLITH_WORKERS, else one per core."""
    asked = os.environ.get(WORKERS_VARIABLE, "").strip()
    if asked:
        if not asked.isdigit() or not 1 <= int(asked) <= 64:
            raise ConfigError(f"{WORKERS_VARIABLE} must be a number of workers from 1 to 64, "
                              f"not {asked!r}")
        return int(asked)
    return max(1, os.cpu_count() or 1)


def serve_args(service: str) -> list[str]:
    """The arguments of `msa.serve` for a service (or "monolith")."""
    return ["--monolith" if service == MONOLITH else service]


def serve_command(service: str) -> list[str]:
    """The real entry point: `python -m msa.serve SERVICE`, or `--monolith`."""
    return [sys.executable, "-m", "msa.serve", *serve_args(service)]


@dataclass(frozen=True)
class InstanceSpec:
    """How to start one service process."""

    name: str
    service: str
    team: str
    port: int
    command: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    serve_args: tuple[str, ...] | None = None
    """`msa.serve.main`'s arguments when `command` is the default one (then the fork
    server may start it instead); None for any other command."""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class PortPlan:
    """Every port the runner will listen on."""

    postgres: int
    nats: int
    nats_monitor: int
    instances: dict[str, int]
    shared: int | None = None
    """Monolith mode: the one public port every worker serves (`instances` are each
    worker's own port, for probes and operators)."""

    def claims(self) -> dict[int, str]:
        """port → what wants it, for the "port already in use" check."""
        claims = {self.postgres: "PostgreSQL", self.nats: "NATS",
                  self.nats_monitor: "NATS monitoring"}
        claims.update({port: name for name, port in self.instances.items()})
        if self.shared is not None:
            claims[self.shared] = MONOLITH
        return claims

    def public(self, instance: str) -> int:
        """The port `instance` answers the public on (the shared one for a monolith worker)."""
        return self.shared if self.shared is not None else self.instances[instance]


def instance_names(system: System, mode: Mode, workers: int = 1) -> list[tuple[str, str]]:
    """(instance, service) pairs: `orders-0`, `orders-1`… or the monolith's workers
    `monolith-0`, `monolith-1`…"""
    if mode == MONOLITH:
        return [(f"{MONOLITH}-{i}", MONOLITH) for i in range(workers)]
    return [(f"{svc.name}-{i}", svc.name)
            for svc in system.services.values() for i in range(svc.replicas)]


def plan_ports(
    system: System, mode: Mode, *, free_ports: bool = False, gateway_port: int | None = None,
    workers: int = 1,
) -> PortPlan:
    """Ports from system.toml (the gateway's may be overridden), or free ones for tests.
    A monolith's workers share the gateway's port; each also has a free port of its own."""
    names = [name for name, _ in instance_names(system, mode, workers)]
    if free_ports:
        extra = int(mode == MONOLITH)
        picked = _distinct_free_ports(3 + extra + len(names))
        return PortPlan(picked[0], picked[1], picked[2],
                        dict(zip(names, picked[3 + extra:], strict=True)),
                        shared=picked[3] if extra else None)
    gateway = system.services[system.system.gateway]
    instances: dict[str, int] = {}
    shared = None
    if mode == MONOLITH:
        shared = gateway_port or gateway.port
        local = system.local
        taken = {local.postgres_port, local.nats_port, local.nats_port + 1, shared}
        instances = dict(zip(names, [p for p in _distinct_free_ports(len(names) + 4)
                                     if p not in taken][:len(names)], strict=True))
    else:
        for svc in system.services.values():
            base = gateway_port if (svc is gateway and gateway_port) else svc.port
            for i in range(svc.replicas):
                instances[f"{svc.name}-{i}"] = base + i
    local = system.local
    plan = PortPlan(local.postgres_port, local.nats_port, local.nats_port + 1, instances, shared)
    seen: dict[int, str] = {}
    publics = [(MONOLITH, shared)] if shared is not None else list(instances.items())
    for name, port in [("PostgreSQL", plan.postgres), ("NATS", plan.nats),
                       ("NATS monitoring", plan.nats_monitor), *publics]:
        if port in seen:
            raise ConfigError(f"port {port} is wanted by both {seen[port]} and {name}")
        seen[port] = name
    return plan


def build_instances(
    system: System,
    mode: Mode,
    ports: PortPlan,
    *,
    database_urls: Mapping[str, str],
    nats_url: str,
    data_dir: Path,
    env: str = "dev",
    env_overrides: Mapping[str, str] | None = None,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
    command: CommandFactory | None = None,
    workers: int = 1,
) -> list[InstanceSpec]:
    """The start specification of every service process, in system.toml order.

    `env_overrides` apply to every process; `service_env[service]` then to the
    replicas of that one service (e.g. a database URL through a fault proxy).
    `command` defaults to `serve_command`.
    """
    if system.path is None:
        raise ConfigError("the runner needs a system loaded from a file (system.path is unset)")
    base = {key: value for key, value in os.environ.items()
            if key not in _OURS and not key.startswith("MSA_DATABASE_URL_")}
    base.update({
        "PYTHONUNBUFFERED": "1",
        "MSA_ENV": env,
        "MSA_HOST": HOST,
        "MSA_SYSTEM_FILE": str(system.path),
        "MSA_NATS_URL": nats_url,
        "MSA_ADDRESSES": json.dumps(addresses(system, mode, ports), separators=(",", ":")),
        "MSA_DATA_DIR": str(data_dir),
    })
    specs = []
    for name, service in instance_names(system, mode, workers):
        variables = {**base, "MSA_SERVICE": service, "MSA_INSTANCE": name,
                     "MSA_PORT": str(ports.instances[name])}
        if mode == MONOLITH:
            team = "all"
            if ports.shared is not None:
                variables[SHARED_PORT_VARIABLE] = str(ports.shared)
            for db_service, url in database_urls.items():
                variables[f"MSA_DATABASE_URL_{db_service.upper()}"] = url
        else:
            team = system.services[service].team
            if service in database_urls:
                variables["MSA_DATABASE_URL"] = database_urls[service]
        variables.update(env_overrides or {})
        variables.update((service_env or {}).get(service, {}))
        specs.append(InstanceSpec(
            name, service, team, ports.instances[name],
            tuple((command or serve_command)(service)), variables,
            serve_args=None if command is not None else tuple(serve_args(service))))
    return specs


def addresses(system: System, mode: Mode, ports: PortPlan) -> dict[str, list[str]]:
    """service → the base URL of each replica (all the one process in monolith mode)."""
    if mode == MONOLITH:
        return {name: [f"http://{HOST}:{ports.public(MONOLITH)}"] for name in system.services}
    return {svc.name: [f"http://{HOST}:{ports.instances[f'{svc.name}-{i}']}"
                       for i in range(svc.replicas)] for svc in system.services.values()}


def service_urls(system: System, mode: Mode, ports: PortPlan) -> dict[str, list[str]]:
    """Where each service answers from outside; in monolith mode the gateway is at the
    root and every other service is mounted under `/_svc/<name>` (see msa.serve)."""
    if mode != MONOLITH:
        return addresses(system, mode, ports)
    from msa.serve import MONOLITH_PREFIX

    base = f"http://{HOST}:{ports.public(MONOLITH)}"
    return {name: [base if name == system.system.gateway else f"{base}{MONOLITH_PREFIX}/{name}"]
            for name in system.services}


def gateway_instance(system: System, mode: Mode) -> str:
    """The instance that serves the public entry point (a monolith: its first worker,
    whose public port all workers share)."""
    return f"{MONOLITH}-0" if mode == MONOLITH else f"{system.system.gateway}-0"


def _distinct_free_ports(count: int) -> list[int]:
    picked: list[int] = []
    while len(picked) < count:
        port = free_port()
        if port not in picked:
            picked.append(port)
    return picked
