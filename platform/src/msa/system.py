"""The system description: `system.toml` parsed into typed, validated objects.

Everything that needs to know the shape of the system (the runner, the service
client's name resolution, CODEOWNERS, the diagram, the event catalog) reads it
from here, so the map of services exists once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from msa.errors import ConfigError

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[0-9]+$"
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Team(_Strict):
    """A team that owns one or more services."""

    name: str = ""
    description: str = ""
    github: str = Field(default="", description="Handle used in CODEOWNERS, e.g. @org/team")
    paths: list[str] = Field(default_factory=list, description="other paths the team owns")


class Edge(_Strict):
    """Resilience settings for the calls from one service to another (`[services.X.edges.Y]`).

    Every call has a deadline (`timeout`, never longer than what the caller has
    left); idempotent calls are retried up to `retries` times while retries stay
    within `retry_budget` (a share of all calls); a circuit breaker opens when
    `breaker_failure_ratio` of at least `breaker_min_calls` calls in the last
    `breaker_window` seconds failed, and lets one probe through after
    `breaker_open_seconds`; at most `max_concurrent` calls are in flight (a bulkhead).

    `paths` lists the internal routes (path prefixes) the caller may call on the
    callee (`msa.service_guard`). Without it the gateway may call none (only the
    callee's public `routes`), and any other caller every `/internal/<callee>/` route.
    """

    timeout: float = Field(default=5.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10)
    retry_budget: float = Field(default=0.2, ge=0, le=1)
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_min_calls: int = Field(default=10, ge=1, le=100_000)
    breaker_window: float = Field(default=10.0, gt=0, le=3600)
    breaker_open_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_concurrent: int = Field(default=256, gt=0, le=100_000)
    paths: list[str] | None = Field(default=None, description=(
        "the internal path prefixes the caller may call (default: see above)"))

    @field_validator("paths")
    @classmethod
    def _absolute_paths(cls, value: list[str] | None) -> list[str] | None:
        for path in value or []:
            if not path.startswith("/") or "//" in path or "\\" in path or any(
                    part in (".", "..") for part in path.split("/")):
                raise ValueError(f"edge path {path!r} must be an absolute path like "
                                 "'/internal/identity/jwks'")
        return value


class Service(_Strict):
    """One deployable service."""

    name: str = ""
    team: str
    app: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    port: int = Field(ge=1024, le=65535)
    replicas: int = Field(default=1, ge=1, le=16)
    database: bool = True
    description: str = ""
    routes: list[str] = Field(default_factory=list)
    calls: list[str] = Field(default_factory=list)
    publishes: list[str] = Field(default_factory=list)
    consumes: list[str] = Field(default_factory=list)
    edges: dict[str, Edge] = Field(default_factory=dict)

    @field_validator("publishes", "consumes")
    @classmethod
    def _event_types(cls, value: list[str]) -> list[str]:
        import re

        for event in value:
            if not re.match(EVENT_TYPE_PATTERN, event):
                raise ValueError(
                    f"event type {event!r} must look like 'service.entity.happened.v1'"
                )
        return value

    @property
    def package(self) -> str:
        """The Python package holding the service's code."""
        return self.app.split(":", 1)[0].split(".", 1)[0]

    @property
    def ports(self) -> list[int]:
        """Local ports of every replica: `port`, `port + 1`, …"""
        return [self.port + i for i in range(self.replicas)]

    def edge(self, callee: str) -> Edge:
        """Resilience settings for calls from this service to `callee`."""
        return self.edges.get(callee, Edge())


class Local(_Strict):
    """Settings of the local runner (`msa up`)."""

    data_dir: str = ".msa"
    postgres_port: int = Field(default=5499, ge=1024, le=65535)
    nats_port: int = Field(default=4299, ge=1024, le=65535)
    prometheus_port: int = Field(default=9090, ge=1024, le=65535)


class Slo(_Strict):
    """A service-level objective on one route, watched by multi-window burn-rate alerts."""

    name: str = ""
    description: str = ""
    service: str
    method: str = Field(default="GET", pattern=r"^[A-Z]+$")
    route: str = Field(pattern=r"^/")
    availability: float = Field(default=0.99, gt=0, lt=1,
                                description="share of answers that are not 5xx")
    latency: float = Field(default=1.0, gt=0, description="seconds; a histogram bucket bound")
    latency_target: float = Field(default=0.95, gt=0, lt=1,
                                  description="share of answers within `latency`")
    business_metrics: list[str] = Field(default_factory=list,
                                        description="counters charted on the journey dashboard")
    saga: str | None = Field(default=None, pattern=NAME_PATTERN, description=(
        "the saga the route starts: its steps given up for want of an answer count "
        "against `availability` too (a participant's definite no does not)"))


class SystemInfo(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    gateway: str
    checks: str | None = None
    seed: str | None = None
    workload: str | None = Field(default=None, description=(
        "`package.module:NAME` of the workload `msa chaos` drives (msa.tools.chaos.workload)"))
    admin: str | None = Field(default=None, description=(
        "`package.module:function` that `msa admin create` calls as "
        "`await function(database_url, email, password)`; the service whose package "
        "holds it lends its database"))


class System(_Strict):
    """The whole system: teams, services and the edges between them."""

    system: SystemInfo
    local: Local = Field(default_factory=Local)
    teams: dict[str, Team]
    services: dict[str, Service]
    slos: dict[str, Slo] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for section in ("teams", "services", "slos"):
                entries = data.get(section)
                if isinstance(entries, dict):
                    data[section] = {
                        key: {**value, "name": key} if isinstance(value, dict) else value
                        for key, value in entries.items()
                    }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> System:
        import re

        problems: list[str] = []
        for name in [*self.teams, *self.services, *self.slos]:
            if not re.match(NAME_PATTERN, name):
                problems.append(f"{name!r}: names are lower-case letters, digits and '_'")
        if self.system.gateway not in self.services:
            problems.append(f"system.gateway: unknown service {self.system.gateway!r}")
        owners: dict[int, str] = {
            self.local.postgres_port: "local.postgres_port",
            self.local.nats_port: "local.nats_port",
            self.local.nats_port + 1: "local.nats_port + 1 (NATS monitoring)",
        }
        if self.local.prometheus_port in owners:
            problems.append(f"local.prometheus_port: port {self.local.prometheus_port} is also "
                            f"used by {owners[self.local.prometheus_port]}")
        owners.setdefault(self.local.prometheus_port, "local.prometheus_port")
        for svc in self.services.values():
            where = f"services.{svc.name}"
            if svc.team not in self.teams:
                problems.append(f"{where}.team: unknown team {svc.team!r}")
            for callee in svc.calls:
                if callee not in self.services:
                    problems.append(f"{where}.calls: unknown service {callee!r}")
                elif callee == svc.name:
                    problems.append(f"{where}.calls: a service does not call itself")
            for callee in svc.edges:
                if callee not in svc.calls:
                    problems.append(f"{where}.edges.{callee}: not in {where}.calls")
            for event in svc.publishes:
                if event.split(".", 1)[0] != svc.name:
                    problems.append(
                        f"{where}.publishes: {event!r} must start with the publisher's name"
                    )
            for port in svc.ports:
                if port in owners:
                    problems.append(f"{where}.port: port {port} is also used by {owners[port]}")
                owners[port] = f"services.{svc.name}"
        for slo in self.slos.values():
            if slo.service not in self.services:
                problems.append(f"slos.{slo.name}.service: unknown service {slo.service!r}")
        published = {event for svc in self.services.values() for event in svc.publishes}
        for svc in self.services.values():
            for event in svc.consumes:
                if event not in published:
                    problems.append(
                        f"services.{svc.name}.consumes: no service publishes {event!r}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- queries -------------------------------------------------------------

    def service(self, name: str) -> Service:
        """The service called `name`; ConfigError naming the known ones otherwise."""
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise ConfigError(f"unknown service {name!r} (known: {known})") from None

    def with_database(self) -> Iterator[Service]:
        return (svc for svc in self.services.values() if svc.database)

    @cached_property
    def consumers_of(self) -> dict[str, list[str]]:
        """event type → the services that consume it."""
        result: dict[str, list[str]] = {}
        for svc in self.services.values():
            for event in svc.consumes:
                result.setdefault(event, []).append(svc.name)
        return result

    @cached_property
    def publisher_of(self) -> dict[str, str]:
        """event type → the service that publishes it."""
        return {event: svc.name for svc in self.services.values() for event in svc.publishes}

    @property
    def publishers(self) -> list[str]:
        """The services that publish events (each has an outbox)."""
        return [svc.name for svc in self.services.values() if svc.publishes]

    @property
    def root(self) -> Path:
        """The folder holding system.toml (the repository root)."""
        return self.path.parent if self.path else Path.cwd()


def parse_system(text: str, path: Path | None = None) -> System:
    """Parse the text of a system description; ConfigError with one line on any problem."""
    where = str(path) if path else "system.toml"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        system = System.model_validate({**raw, "path": path})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    return system


def load_system(path: Path | str | None = None) -> System:
    """Load `system.toml` from `path`, $MSA_SYSTEM_FILE, or the nearest parent folder."""
    import os

    if path is None:
        env = os.environ.get("MSA_SYSTEM_FILE")
        path = Path(env) if env else find_system_file()
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return parse_system(text, path)


def find_system_file(start: Path | None = None) -> Path:
    """The nearest `system.toml` in `start` (default: cwd) or its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "system.toml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no system.toml in {here} or any parent folder")


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
