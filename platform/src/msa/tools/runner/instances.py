"""Keeping one service process running: start, probe readiness, restart with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from msa.runner_state import RunnerState
from msa.tools.runner.launcher import Launcher
from msa.tools.runner.plan import InstanceSpec
from msa.tools.runner.probe import http_ok
from msa.tools.runner.processes import Child, create_time, open_log, terminate

Mutate = Callable[[Callable[[RunnerState], Any]], None]
BACKOFF_START = 0.2
BACKOFF_MAX = 5.0
STABLE_AFTER = 10.0
"""A process that ran this long before dying is restarted with the shortest delay."""
POLL_INTERVAL = 0.05
CANNOT_START = 127
"""The exit code recorded when the command could not even be started (as a shell does)."""
READY_PATH = "/readyz"


def backoff_delay(failures: int) -> float:
    """Seconds to wait before restart number `failures` in a row: 0.2, 0.4, … 5."""
    return min(BACKOFF_START * 2 ** max(failures - 1, 0), BACKOFF_MAX)


async def keep_running(
    spec: InstanceSpec,
    launcher: Launcher,
    processes: dict[str, Child],
    mutate: Mutate,
    stop: asyncio.Event,
) -> None:
    """Run `spec` until `stop` is set, restarting it whenever it exits.

    Must run on the supervisor thread's loop (children are tied to that thread).
    The current process is kept in `processes[spec.name]` for the final stop.
    """
    log_path = launcher.log_dir / f"{spec.name}.log"
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            proc = await launcher.launch(spec, log_path)
        except OSError as exc:  # e.g. the command does not exist
            code, what = CANNOT_START, f"cannot start {spec.command[0]}: {exc.strerror}"
        else:
            processes[spec.name] = proc
            mutate(partial(_started, name=spec.name, pid=proc.pid))
            ready = False
            while proc.poll() is None:
                if not ready and await http_ok(spec.port, READY_PATH, timeout=1.0):
                    ready = True
                    mutate(partial(_ready, name=spec.name))
                await asyncio.sleep(POLL_INTERVAL if not ready else 2 * POLL_INTERVAL)
            if stop.is_set():
                return
            code = proc.returncode if proc.returncode is not None else -1
            note = getattr(proc, "exit_note", None)  # see ForkedChild
            what = f"process {proc.pid} exited with code {code}" + (f" ({note})" if note else "")
        failures = 1 if time.monotonic() - started > STABLE_AFTER else failures + 1
        delay = backoff_delay(failures)
        _note(log_path, spec, f"{what}; restarting in {delay:.1f} s")
        mutate(partial(_exited, name=spec.name, code=code))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()


async def stop_instances(processes: list[Child], timeout: float, mutate: Mutate) -> None:
    """SIGTERM all at once, SIGKILL whatever still runs after `timeout`, reap all."""
    await asyncio.to_thread(terminate, processes, timeout)

    def _all_down(state: RunnerState) -> None:
        for item in state.instances:
            item.pid, item.create_time, item.ready = None, None, False

    mutate(_all_down)


def _started(state: RunnerState, name: str, pid: int) -> None:
    item = state.instance(name)
    item.pid, item.create_time = pid, create_time(pid)
    item.ready, item.started_at, item.ready_at = False, time.time(), None


def _ready(state: RunnerState, name: str) -> None:
    item = state.instance(name)
    item.ready, item.ready_at = True, time.time()


def _exited(state: RunnerState, name: str, code: int) -> None:
    item = state.instance(name)
    item.pid, item.create_time, item.ready = None, None, False
    item.last_exit, item.restarts = code, item.restarts + 1


def _note(log_path: Path, spec: InstanceSpec, message: str) -> None:
    """Append a JSON line from the supervisor to the instance's log."""
    record = {"ts": datetime.now(UTC).isoformat(), "level": "warning", "logger": "msa.tools.runner",
              "service": spec.service, "instance": spec.name, "msg": message}
    with os.fdopen(open_log(log_path), "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
