"""PostgreSQL and NATS as the supervisor runs them: started in parallel, watched, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from msa.errors import MsaError
from msa.runner_state import RunnerState, ServerState
from msa.system import System
from msa.tools.runner.databases import DatabaseSecrets, provision, service_urls
from msa.tools.runner.instances import STABLE_AFTER, backoff_delay
from msa.tools.runner.nats import NatsServer
from msa.tools.runner.plan import PortPlan
from msa.tools.runner.postgres import PostgresServer
from msa.tools.runner.processes import create_time, kill_pid

Mutate = Callable[[Callable[[RunnerState], Any]], None]
WATCH_INTERVAL = 0.25


class ServerSet:
    """The runner's PostgreSQL and NATS, with their data under `data_dir`."""

    def __init__(self, data_dir: Path, ports: PortPlan) -> None:
        logs = data_dir / "logs"
        self.data_dir = data_dir
        self.postgres = PostgresServer(data_dir / "postgres", port=ports.postgres,
                                       log_path=logs / "postgres.log")
        self.nats = NatsServer(data_dir / "nats", port=ports.nats,
                               monitor_port=ports.nats_monitor,
                               config_path=data_dir / "nats.conf", log_path=logs / "nats.log")
        self.secrets: DatabaseSecrets | None = None
        self.database_urls: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        """Seconds each step took: initdb, postgres, nats, provision."""
        self._unsynced = False  # initdb ran without waiting for the disk
        self._sync: asyncio.Task[None] | None = None

    def load_secrets(self, services: list[str]) -> None:
        """Read or create the passwords; fills `database_urls` (no server needed yet)."""
        path = self.data_dir / "secrets" / "postgres.json"
        self.secrets = DatabaseSecrets.load_or_create(path, services)
        urls = service_urls(self.postgres, self.secrets)
        self.database_urls = {name: urls[name] for name in services}

    def load_nats_users(self, system: System) -> None:
        """Read or create each NATS user's password; NATS will require them."""
        from msa import nats_auth

        passwords = nats_auth.ensure_passwords(self.data_dir, nats_auth.nats_users(system))
        self.nats.authorization = nats_auth.server_authorization(system, passwords)

    def postgres_state(self) -> ServerState:
        """The initial state entry for PostgreSQL."""
        return ServerState("postgres", self.postgres.port,
                           f"postgresql://127.0.0.1:{self.postgres.port}",
                           str(self.postgres.log_path))

    def nats_state(self) -> ServerState:
        """The initial state entry for NATS."""
        return ServerState("nats", self.nats.port, self.nats.url, str(self.nats.log_path),
                           monitor_url=self.nats.monitor_url)

    async def start(self, mutate: Mutate) -> None:
        """Start both servers at once; call from the supervisor thread (NATS is its child)."""
        started = time.monotonic()
        self.nats.spawn()
        results = await asyncio.gather(asyncio.to_thread(self._start_postgres),
                                       asyncio.to_thread(self._wait_nats, started),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        mutate(lambda state: self._record(state, "postgres"))
        mutate(lambda state: self._record(state, "nats"))

    async def provision(self, services: list[str]) -> None:
        """Create or repair each service's database and role."""
        assert self.secrets is not None, "load_secrets() first"
        started = time.monotonic()
        await provision(self.postgres, self.secrets, services)
        self.timings["provision"] = time.monotonic() - started
        if self._unsynced and self._sync is None:  # initdb's files, to disk off the start path
            self._sync = asyncio.create_task(asyncio.to_thread(self.postgres.sync_files))

    async def watch(self, mutate: Mutate, stop: asyncio.Event) -> None:
        """Restart NATS or PostgreSQL if one dies, with the services' backoff."""
        failures = {"nats": 0, "postgres": 0}
        up_since = {"nats": time.monotonic(), "postgres": time.monotonic()}
        while not stop.is_set():
            await asyncio.sleep(WATCH_INTERVAL)
            for name, down, revive in (
                ("nats", self._nats_down, self._revive_nats),
                ("postgres", self._postgres_down, self._revive_postgres),
            ):
                if stop.is_set() or not down():
                    continue
                mutate(partial(_mark_down_named, name=name))
                if time.monotonic() - up_since[name] > STABLE_AFTER:
                    failures[name] = 0
                failures[name] += 1
                await _sleep_unless(stop, backoff_delay(failures[name]))
                if stop.is_set():
                    return
                try:
                    await revive()
                except MsaError:
                    continue  # e.g. memory still held by dying backends: try again
                up_since[name] = time.monotonic()
                mutate(partial(self._record, name=name, restarted=True))

    def _nats_down(self) -> bool:
        return self.nats.process is not None and self.nats.process.poll() is not None

    def _postgres_down(self) -> bool:
        return self.postgres.pid() is None

    async def _revive_nats(self) -> None:
        self.nats.process = None
        self.nats.spawn()  # from the supervisor thread, as at start
        await asyncio.to_thread(self.nats.wait_ready)

    async def _revive_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.start)

    async def stop(self, mutate: Mutate) -> None:
        """Stop NATS, then PostgreSQL (`pg_ctl stop -m fast`, SIGKILL if that fails)."""
        if self._unsynced and self._sync is None:  # stopped before provisioning
            self._sync = asyncio.create_task(asyncio.to_thread(self.postgres.sync_files))
        if self._sync is not None:
            with contextlib.suppress(MsaError):
                await self._sync
        await asyncio.to_thread(self.nats.stop)
        mutate(lambda state: _mark_down(state.nats))
        try:
            await asyncio.to_thread(self.postgres.stop, "fast")
        except MsaError:
            pid = self.postgres.pid()
            # SIGINT is PostgreSQL's "fast shutdown"
            await asyncio.to_thread(kill_pid, pid, create_time(pid) if pid else None, 5.0,
                                    signal.SIGINT)
        mutate(lambda state: _mark_down(state.postgres))

    def _wait_nats(self, started: float) -> None:
        self.nats.wait_ready()
        self.timings["nats"] = time.monotonic() - started

    def _start_postgres(self) -> None:
        assert self.secrets is not None, "load_secrets() first"
        if not self.postgres.initialized:
            started = time.monotonic()
            self.postgres.init(self.secrets.superuser_password, sync=False)
            self._unsynced = True
            self.timings["initdb"] = time.monotonic() - started
        started = time.monotonic()
        self.postgres.start()
        self.timings["postgres"] = time.monotonic() - started

    def _record(self, state: RunnerState, name: str, restarted: bool = False) -> None:
        server = state.postgres if name == "postgres" else state.nats
        assert server is not None
        pid = self.postgres.pid() if name == "postgres" else self.nats.pid
        server.pid, server.create_time = pid, create_time(pid) if pid else None
        server.ready = pid is not None
        server.restarts += int(restarted)


def _mark_down(server: ServerState | None) -> None:
    if server is not None:
        server.pid, server.create_time, server.ready = None, None, False


def _mark_down_named(state: RunnerState, name: str) -> None:
    _mark_down(state.postgres if name == "postgres" else state.nats)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
