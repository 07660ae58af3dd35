"""Signalling a running system's processes, whether this process runs it or not.

`RunnerControl` drives a `Runner` started here; `AttachedControl` drives one that
another process supervises (`msa up -d`), through its state file. Both see the
same `RunnerState`, and in both the supervisor restarts what dies.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Protocol

from msa.errors import MsaError
from msa.tools.runner import Runner, RunnerState, running_state
from msa.tools.runner.processes import signal_group


class SystemControl(Protocol):
    """What a fault injector needs of a running system."""

    def status(self) -> RunnerState: ...

    def signal(self, name: str, sig: int) -> int:
        """Send `sig` to an instance (`orders-1`), "nats" or "postgres"; returns the pid."""
        ...


class RunnerControl:
    """A Runner started in this process."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def status(self) -> RunnerState:
        return self.runner.status()

    def signal(self, name: str, sig: int) -> int:
        return self.runner.kill(name, sig)


class AttachedControl:
    """A system supervised by another process, found through its data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def status(self) -> RunnerState:
        state = running_state(self.data_dir)
        if state is None:
            raise MsaError(f"the system in {self.data_dir} has stopped")
        return state

    def signal(self, name: str, sig: int) -> int:
        pid = pid_of(self.status(), name)
        if not pid or not signal_group(pid, sig):
            raise MsaError(f"{name} is not running")
        return pid


def pid_of(state: RunnerState, name: str) -> int | None:
    """The pid the state records for an instance, "nats" or "postgres"."""
    if name in ("nats", "postgres"):
        server = state.nats if name == "nats" else state.postgres
        return server.pid if server else None
    try:
        return state.instance(name).pid
    except KeyError:
        raise MsaError(f"unknown instance {name!r}") from None


def is_up(state: RunnerState, name: str) -> bool:
    """Whether `name` runs and has answered ready."""
    if name in ("nats", "postgres"):
        server = state.nats if name == "nats" else state.postgres
        return server is not None and server.ready and server.pid is not None
    item = state.instance(name)
    return item.ready and item.pid is not None


async def wait_back(control: SystemControl, name: str, old_pid: int | None,
                    timeout: float) -> float | None:
    """Seconds until `name` runs as a new process and is ready; None if not in `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = control.status()
        if is_up(state, name) and pid_of(state, name) != old_pid:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def wait_all_up(control: SystemControl, timeout: float) -> list[str]:
    """Wait until every process is up; returns those still down after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        state = control.status()
        names = ["postgres", "nats", *(item.name for item in state.instances)]
        down = [name for name in names if not is_up(state, name)]
        if not down or time.monotonic() > deadline:
            return down
        await asyncio.sleep(0.2)
