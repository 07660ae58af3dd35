"""How the supervisor starts a service instance: forked by the zygote, or as a subprocess.

Instances run by the default command (`python -m msa.serve`) are forked by the
fork server (`msa.tools.runner.zygote`), which has imported the services' code once;
any other command (e.g. `msa.tools.testing.fake_service_command`) is started as a
plain subprocess. So is every instance if the fork server cannot run: not on
Linux, `MSA_FORK_SERVER=0`, a thread started while it imported, or it died
`MAX_QUICK_DEATHS` times in a row soon after starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msa.runner_state import ForkServerState, RunnerState
from msa.tools.runner.forkserver import ForkServer, ForkServerError
from msa.tools.runner.plan import InstanceSpec
from msa.tools.runner.processes import Child, create_time, open_log, spawn

Mutate = Callable[[Callable[[RunnerState], Any]], None]
LOG_NAME = "forkserver"
MAX_QUICK_DEATHS = 3
"""After this many deaths in a row, each soon after starting, the zygote is not restarted."""
QUICK = 10.0
"""A zygote that dies within this many seconds of its hello died "soon"."""


def fork_server_wanted(option: bool | None) -> bool:
    """Whether to use a fork server: the option, else `MSA_FORK_SERVER`, else yes (on Linux).

    In monolith mode too: its imports then overlap PostgreSQL's start, and a restart
    after a crash takes a second instead of a full start.
    """
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return False
    if option is not None:
        return option
    setting = os.environ.get("MSA_FORK_SERVER", "").strip().lower()
    return setting not in ("0", "false", "no", "off")


def shared_env(envs: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The variables every environment has with the same value."""
    if not envs:
        return {}
    first, *rest = envs
    return {key: value for key, value in first.items()
            if all(other.get(key) == value for other in rest)}


def _interpreter_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables the interpreter reads at start (a fork cannot change them)."""
    return {key: value for key, value in env.items()
            if key.startswith("PYTHON") and key != "PYTHONUNBUFFERED"}


class Launcher:
    """Starts instances of `specs`; owns the fork server if there is one."""

    def __init__(self, specs: Sequence[InstanceSpec], preload: Sequence[str], log_dir: Path,
                 mutate: Mutate, *, fork: bool) -> None:
        self.log_dir = log_dir
        self.log_path = log_dir / f"{LOG_NAME}.log"
        self._mutate = mutate
        candidates = [spec for spec in specs if spec.serve_args is not None] if fork else []
        self._env = shared_env([spec.env for spec in candidates])
        self._forkable = {spec.name for spec in candidates
                          if _interpreter_env(spec.env) == _interpreter_env(self._env)}
        self._preload = list(dict.fromkeys(preload))
        self._server: ForkServer | None = None
        self._ready: asyncio.Task[dict[str, Any]] | None = None
        self._lock = asyncio.Lock()
        self._quick_deaths = 0
        self._disabled: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether some instances are (still) forked by the zygote."""
        return bool(self._forkable) and self._disabled is None

    @property
    def server(self) -> ForkServer | None:
        """The current zygote, if any."""
        return self._server

    def start(self) -> None:
        """Start the zygote at once (it imports while PostgreSQL starts); supervisor thread."""
        if self.enabled and self._server is None:
            self._start_server()

    async def launch(self, spec: InstanceSpec, log_path: Path) -> Child:
        """Start one instance; OSError if its command cannot run."""
        if spec.name in self._forkable and spec.serve_args is not None:
            for _ in range(2):  # a second try with a fresh zygote if this one just died
                server = await self._current()
                if server is None:
                    break
                with contextlib.suppress(ForkServerError):
                    return await server.spawn(spec.serve_args, spec.env, log_path)
        return spawn(spec.command, env=spec.env, log_path=log_path)

    async def close(self) -> None:
        """Stop the zygote (after the instances: its children get SIGTERM when it goes)."""
        if self._ready is not None:
            self._ready.cancel()
            await asyncio.gather(self._ready, return_exceptions=True)
        if self._server is not None:
            await asyncio.to_thread(self._server.close)
            self._mutate(_forkserver_down)

    async def _current(self) -> ForkServer | None:
        """The running zygote, restarted if it died; None once forking is given up."""
        async with self._lock:
            if self._disabled is not None:
                return None
            if self._server is None:
                self._start_server()
            if not await self._hello_ok():
                return None
            assert self._server is not None
            if not self._server.alive:  # it died after its hello: start another
                self._died(self._server)
                if self._disabled is not None:
                    return None
                self._start_server()
                if not await self._hello_ok():
                    return None
            return self._server

    async def _hello_ok(self) -> bool:
        """Wait for the current zygote's hello; a zygote that cannot start disables forking."""
        assert self._ready is not None
        try:
            await asyncio.shield(self._ready)
        except ForkServerError as exc:
            self._disable(str(exc))
            return False
        return True

    def _start_server(self) -> ForkServer:
        server = ForkServer(self._preload, env=self._env, log_path=self.log_path)
        server.start()
        self._server = server
        self._mutate(lambda state: _forkserver_started(state, server, str(self.log_path)))
        self._ready = asyncio.create_task(self._hello(server))
        return server

    async def _hello(self, server: ForkServer) -> dict[str, Any]:
        hello = await server.ready()
        failed = hello.get("failed") or {}
        self._note("info", f"fork server {server.pid} ready: imported {hello.get('modules')} "
                           f"modules in {hello.get('seconds')} s", failed=failed)
        self._mutate(lambda state: _forkserver_ready(state, hello))
        return hello

    def _died(self, server: ForkServer) -> None:
        imported = float((server.hello or {}).get("seconds", 0.0))
        quick = server.started_at is not None and (
            time.monotonic() - server.started_at < QUICK + imported)
        self._quick_deaths = self._quick_deaths + 1 if quick else 1
        self._note("warning", f"fork server {server.pid} died; starting another")
        self._mutate(_forkserver_restarting)
        if self._quick_deaths >= MAX_QUICK_DEATHS:
            self._disable(f"the fork server died {self._quick_deaths} times in a row")

    def _disable(self, reason: str) -> None:
        self._disabled = reason
        self._note("error", f"{reason}; starting services as separate processes instead")
        self._mutate(lambda state: _forkserver_disabled(state, reason))

    def _note(self, level: str, message: str, **extra: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(), "level": level,
                  "logger": "msa.tools.runner", "msg": message, **extra}
        with os.fdopen(open_log(self.log_path), "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def _forkserver_started(state: RunnerState, server: ForkServer, log: str) -> None:
    previous = state.forkserver
    state.forkserver = ForkServerState(
        pid=server.pid, create_time=create_time(server.pid) if server.pid else None, log=log,
        restarts=previous.restarts if previous else 0)


def _forkserver_ready(state: RunnerState, hello: dict[str, Any]) -> None:
    if state.forkserver is not None:
        state.forkserver.ready = True
        state.forkserver.modules = int(hello.get("modules") or 0)
        state.forkserver.import_seconds = float(hello.get("seconds") or 0.0)


def _forkserver_restarting(state: RunnerState) -> None:
    if state.forkserver is not None:
        state.forkserver.restarts += 1
        _forkserver_down(state)


def _forkserver_down(state: RunnerState) -> None:
    if state.forkserver is not None:
        state.forkserver.pid = state.forkserver.create_time = None
        state.forkserver.ready = False


def _forkserver_disabled(state: RunnerState, reason: str) -> None:
    _forkserver_down(state)
    if state.forkserver is not None:
        state.forkserver.error = reason
