"""The runner's state file, `<data_dir>/state.json`: what runs, where, since when.

The supervisor rewrites it on every change so that `msa status`, `msa down` and
`msa logs` in another shell know the pids, ports and restart counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

STATE_FILE = "state.json"
MARKER_FILE = ".msa-data-dir"
Phase = Literal["starting", "running", "stopping", "stopped", "failed"]


@dataclass
class InstanceState:
    """One service process (a replica, or the whole monolith)."""

    name: str
    service: str
    team: str
    port: int
    url: str
    log: str
    pid: int | None = None
    create_time: float | None = None
    ready: bool = False
    restarts: int = 0
    started_at: float | None = None
    ready_at: float | None = None
    last_exit: int | None = None


@dataclass
class ServerState:
    """PostgreSQL or NATS."""

    name: str
    port: int
    url: str
    log: str
    pid: int | None = None
    create_time: float | None = None
    ready: bool = False
    restarts: int = 0
    monitor_url: str | None = None


@dataclass
class ForkServerState:
    """The fork server (`msa.tools.runner.zygote`) that forks the service processes."""

    log: str
    pid: int | None = None
    create_time: float | None = None
    ready: bool = False
    restarts: int = 0
    modules: int = 0
    import_seconds: float = 0.0
    error: str | None = None
    """Why forking was given up (services then start as separate processes)."""


@dataclass
class RunnerState:
    """Everything `msa status` shows, as the supervisor last saw it."""

    system: str
    system_file: str
    data_dir: str
    mode: str
    phase: Phase = "starting"
    error: str | None = None
    supervisor_pid: int | None = None
    supervisor_create_time: float | None = None
    started_at: float | None = None
    ready_at: float | None = None
    gateway_url: str | None = None
    postgres: ServerState | None = None
    nats: ServerState | None = None
    forkserver: ForkServerState | None = None
    instances: list[InstanceState] = field(default_factory=list)

    @property
    def all_ready(self) -> bool:
        """Whether every server and every service instance has answered ready."""
        servers = [server for server in (self.postgres, self.nats) if server is not None]
        return all(server.ready for server in servers) and all(
            item.ready for item in self.instances)

    def instance(self, name: str) -> InstanceState:
        """The instance called `name` (KeyError if none)."""
        for item in self.instances:
            if item.name == name:
                return item
        raise KeyError(name)

    def pid_of(self, name: str) -> int | None:
        """The pid of an instance (`orders-1`), `postgres`, `nats` or `forkserver`;
        KeyError naming the known ones if there is no such process."""
        servers = {"postgres": self.postgres, "nats": self.nats, "forkserver": self.forkserver}
        if name in servers:
            found = servers[name]
            return found.pid if found is not None else None
        try:
            return self.instance(name).pid
        except KeyError:
            known = ", ".join([*(item.name for item in self.instances), *servers])
            raise KeyError(f"unknown instance {name!r} (known: {known})") from None

    def update(self, **values: Any) -> None:
        """Set fields by name, e.g. `state.update(phase="failed", error=...)`."""
        for key, value in values.items():
            setattr(self, key, value)

    def supervisor_alive(self) -> bool:
        """Whether the supervisor process that wrote this state still runs."""
        return process_alive(self.supervisor_pid, self.supervisor_create_time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunnerState:
        """Rebuild from `to_dict` output, ignoring unknown keys (older or newer files)."""
        values = _known(cls, raw)
        for key in ("postgres", "nats"):
            if isinstance(raw.get(key), dict):
                values[key] = ServerState(**_known(ServerState, raw[key]))
        if isinstance(raw.get("forkserver"), dict):
            values["forkserver"] = ForkServerState(**_known(ForkServerState, raw["forkserver"]))
        values["instances"] = [
            InstanceState(**_known(InstanceState, item)) for item in raw.get("instances", [])
        ]
        return cls(**values)


def state_path(data_dir: Path) -> Path:
    """Where the state file of `data_dir` lives."""
    return data_dir / STATE_FILE


def read_state(data_dir: Path) -> RunnerState | None:
    """The last written state, or None if there is none (or it is unreadable)."""
    try:
        raw = json.loads(state_path(data_dir).read_text(encoding="utf-8"))
        return RunnerState.from_dict(raw)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_state(data_dir: Path, state: RunnerState) -> None:
    """Replace the state file atomically (readers never see half a file)."""
    path = state_path(data_dir)
    temporary = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(state.to_dict(), indent=2), encoding="utf-8")
    os.replace(temporary, path)


def running_state(data_dir: Path) -> RunnerState | None:
    """The state if a live supervisor owns `data_dir`, else None."""
    state = read_state(data_dir)
    if state is None or state.phase in ("stopped", "failed") or not state.supervisor_alive():
        return None
    return state


def _known(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    names = {item.name for item in fields(cls)}
    return {key: value for key, value in raw.items() if key in names}


def process_alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether `pid` runs and, if `create_time` is given, is the same process as then."""
    if not pid or pid <= 0:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False
