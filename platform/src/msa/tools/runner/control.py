"""Controlling a system from another process: is it up, stop it, clean up after a crash."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from msa.runner_state import RunnerState, read_state, write_state
from msa.tools.runner.postgres import PostgresServer
from msa.tools.runner.processes import kill_pid, process_alive


def stop_system(data_dir: Path, timeout: float = 60.0) -> bool:
    """Stop whatever runs from `data_dir`; True if anything was running.

    Asks the supervisor to stop (SIGTERM) and waits; then stops anything the state
    file still lists as running (a supervisor may have died and left children).
    """
    state = read_state(data_dir)
    if state is None:
        return _stop_postgres(data_dir / "postgres", None)
    was_running = False
    if state.supervisor_alive() and state.supervisor_pid != os.getpid():
        was_running = True
        pid, created = state.supervisor_pid, state.supervisor_create_time
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid, created) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid, created):
            os.kill(pid, signal.SIGKILL)
        state = read_state(data_dir) or state
    return clean_leftovers(state, data_dir) or was_running


def clean_leftovers(state: RunnerState, data_dir: Path) -> bool:
    """Stop processes a dead supervisor left behind; True if there were any."""
    found = False
    for item in state.instances:
        if process_alive(item.pid, item.create_time):
            found = True
            kill_pid(item.pid, item.create_time)
        item.pid, item.ready = None, False
    zygote = state.forkserver
    if zygote is not None:
        if process_alive(zygote.pid, zygote.create_time):
            found = True
            kill_pid(zygote.pid, zygote.create_time)
        zygote.pid, zygote.ready = None, False
    if state.nats is not None:
        if process_alive(state.nats.pid, state.nats.create_time):
            found = True
            kill_pid(state.nats.pid, state.nats.create_time)
        state.nats.pid, state.nats.ready = None, False
    port = state.postgres.port if state.postgres else None
    found = _stop_postgres(data_dir / "postgres", port) or found
    if state.postgres is not None:
        state.postgres.pid, state.postgres.ready = None, False
    if state.phase not in ("stopped", "failed"):
        state.phase = "stopped"
    if (data_dir / "state.json").exists():
        write_state(data_dir, state)
    return found


def _stop_postgres(pgdata: Path, port: int | None) -> bool:
    server = PostgresServer(pgdata, port=port or 0)
    pid = server.pid()
    if pid is None:
        return False
    try:
        server.stop("fast")
    except Exception:  # the server may be half-dead; make sure it is gone
        kill_pid(pid, None, timeout=5.0, sig=signal.SIGINT)  # SIGINT: fast shutdown
    return True
