"""The supervisor: runs PostgreSQL, NATS and every service process; restarts what dies.

`Runner` is the programmatic API (the CLI and the test fixtures use it). All
children are started from one supervisor thread running an asyncio loop, so
they can be tied to its life: if the supervising process dies, they get SIGTERM.
`msa.tools.runner.detached` runs one detached from the terminal (`msa up -d`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from msa.errors import ConfigError, MsaError
from msa.runner_state import MARKER_FILE, RunnerState, write_state
from msa.system import System
from msa.tools.runner.launcher import Launcher, fork_server_wanted
from msa.tools.runner.lock import DataDirLock
from msa.tools.runner.logs import describe_crash_loop, describe_laggards
from msa.tools.runner.plan import (
    MODES,
    CommandFactory,
    InstanceSpec,
    Mode,
    PortPlan,
    build_instances,
    default_workers,
    gateway_instance,
    plan_ports,
    service_urls,
)
from msa.tools.runner.ports import ensure_ports_free
from msa.tools.runner.processes import signal_group
from msa.tools.runner.servers import ServerSet
from msa.tools.runner.supervise import initial_state, supervise


def default_data_dir(system: System) -> Path:
    """system.toml's `local.data_dir`, relative to the folder holding system.toml."""
    return (system.root / system.local.data_dir).resolve()


class Runner:
    """Runs a whole system locally: PostgreSQL, NATS and each service process, supervised.

    `mode="process"` starts every replica as its own process; `mode="monolith"`
    starts `workers` processes (default: one per core) each serving all services, all
    on the gateway port (SO_REUSEPORT) and each on a port of its own. With
    `free_ports=True` every port is picked free (for tests). `command` maps a
    service name (or "monolith") to the command serving it; the default is
    `python -m msa.serve`, whose instances a fork server starts (see
    `msa.tools.runner.zygote`): `fork_server` forces it on or off (default: on, unless
    `MSA_FORK_SERVER=0`). Custom commands start as subprocesses.
    """

    def __init__(
        self,
        system: System,
        *,
        data_dir: Path | str | None = None,
        mode: Mode = "process",
        free_ports: bool = False,
        gateway_port: int | None = None,
        env: str = "dev",
        env_overrides: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        command: CommandFactory | None = None,
        fork_server: bool | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        workers: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        if workers is not None and workers < 1:
            raise ConfigError(f"a monolith needs at least one worker (asked for {workers})")
        self.workers = (workers or default_workers()) if mode == "monolith" else 1
        self.system = system
        self.mode: Mode = mode
        self.data_dir = Path(data_dir).absolute() if data_dir else default_data_dir(system)
        self.env = env
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.ports: PortPlan = plan_ports(system, mode, free_ports=free_ports,
                                          gateway_port=gateway_port, workers=self.workers)
        self.servers = ServerSet(self.data_dir, self.ports)
        self._env_overrides = dict(env_overrides or {})
        self._service_env = {name: dict(values) for name, values in (service_env or {}).items()}
        self._command = command
        self._fork_server = fork_server
        self._specs: list[InstanceSpec] = []
        self._state_lock = threading.Lock()
        self._state: RunnerState | None = None
        self._dir_lock = DataDirLock(self.data_dir)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._loop_ready = threading.Event()
        self._launched = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None

    # -- addresses -----------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        """Where every process's log file goes."""
        return self.data_dir / "logs"

    @property
    def gateway_url(self) -> str:
        """The public entry point of the system."""
        return f"http://127.0.0.1:{self.ports.public(gateway_instance(self.system, self.mode))}"

    @property
    def addresses(self) -> dict[str, list[str]]:
        """service → the base URL of each replica (monolith: the service's mounted prefix)."""
        return service_urls(self.system, self.mode, self.ports)

    def url(self, service: str) -> str:
        """The base URL of the first replica of `service`."""
        self.system.service(service)
        return self.addresses[service][0]

    @property
    def specs(self) -> list[InstanceSpec]:
        """How each instance is started: command, environment, port (after `start`)."""
        return list(self._specs)

    @property
    def nats_url(self) -> str:
        """`nats://operator:password@127.0.0.1:port`: the operator's connection (tools, checks)."""
        from msa.nats_auth import operator_url

        return operator_url(self.servers.nats.url, self.data_dir)

    def database_url(self, service: str) -> str:
        """`postgresql://role:password@127.0.0.1:port/db` of `service` (after `start`)."""
        urls = self.servers.database_urls
        if service not in urls:
            self.system.service(service)
            raise MsaError(f"{service} has no database (or the runner has not started)")
        return urls[service]

    # -- lifecycle -----------------------------------------------------------

    def check_ports(self) -> None:
        """MsaError naming the first port someone else holds (and who), before starting."""
        claims = self.ports.claims()
        if self.servers.postgres.running_port() == self.ports.postgres:
            del claims[self.ports.postgres]  # our own server left running: start adopts it
        ensure_ports_free(claims)

    def start(self, wait_ready: bool = True, timeout: float | None = None) -> None:
        """Start everything; with `wait_ready`, return once every instance is ready.

        On any failure everything started so far is stopped before the error is raised.
        """
        if self._thread is not None:
            raise MsaError("this runner was already started")
        self._prepare()
        self._thread = threading.Thread(target=self._thread_main, name="msa-supervisor",
                                        daemon=True)
        atexit.register(self.stop)
        self._thread.start()
        try:
            self._launched.wait()
            if self._error is not None:
                raise self._error
            if wait_ready:
                self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until every server and instance is ready; MsaError naming laggards."""
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            self.check()
            state = self.status()
            if state.all_ready:
                return
            failing = describe_crash_loop(state)
            if failing:
                raise MsaError(failing)
            if time.monotonic() > deadline:
                raise MsaError(f"not ready after {limit:.0f} s: " + describe_laggards(state))
            time.sleep(0.02)

    def check(self) -> None:
        """MsaError if the supervisor failed or has stopped; otherwise nothing."""
        if self._error is not None:
            raise MsaError(str(self._error))
        if self._done.is_set():
            raise MsaError("the runner has stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the runner has stopped (or `timeout`); True if it has."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stop services (SIGTERM, then SIGKILL after `stop_timeout`), NATS, PostgreSQL."""
        atexit.unregister(self.stop)
        if self._thread is None:
            return
        self._loop_ready.wait()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not self._done.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)
        self._thread.join()

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection and chaos ------------------------------------------------

    def status(self) -> RunnerState:
        """A snapshot of the state (the same as `state.json`)."""
        with self._state_lock:
            if self._state is None:
                raise MsaError("the runner has not started")
            return RunnerState.from_dict(self._state.to_dict())

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to an instance (`orders-1`), `nats`, `postgres` or `forkserver`;
        returns the pid."""
        try:
            pid = self.status().pid_of(name)
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from None
        if not pid or not signal_group(pid, sig):
            raise MsaError(f"{name} is not running")
        return pid

    # -- the supervisor thread ----------------------------------------------

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / MARKER_FILE).touch()
        self._dir_lock.acquire()
        try:
            self.check_ports()
            self.servers.load_secrets([svc.name for svc in self.system.with_database()])
            self.servers.load_nats_users(self.system)
            self._specs = build_instances(
                self.system, self.mode, self.ports, database_urls=self.servers.database_urls,
                # the bare URL: each service adds its own credentials
                nats_url=self.servers.nats.url, data_dir=self.data_dir, env=self.env,
                env_overrides=self._env_overrides, service_env=self._service_env,
                command=self._command, workers=self.workers)
            self._state = initial_state(self.system, self.mode, self.data_dir,
                                        self.gateway_url, self.servers, self._specs)
            self._mutate(lambda state: None)
        except BaseException:
            self._dir_lock.release()
            raise

    def _mutate(self, change: Callable[[RunnerState], Any]) -> None:
        with self._state_lock:
            assert self._state is not None
            change(self._state)
            if self._state.phase == "starting" and self._state.all_ready:
                self._state.phase, self._state.ready_at = "running", time.time()
            write_state(self.data_dir, self._state)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start() / wait_ready()
            self._error = self._error or exc
        finally:
            self._dir_lock.release()
            self._loop_ready.set()
            self._launched.set()
            self._done.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._loop_ready.set()
        preload = [svc.app.partition(":")[0] for svc in self.system.services.values()]
        launcher = Launcher(self._specs, preload, self.log_dir, self._mutate,
                            fork=fork_server_wanted(self._fork_server))
        await supervise(self.servers, launcher, self._specs,
                        [svc.name for svc in self.system.with_database()], self._mutate,
                        self._stop_event, self._launched.set, self._failed, self.stop_timeout)

    def _failed(self, exc: Exception) -> None:
        self._error, message = exc, str(exc)
        self._mutate(lambda state: state.update(phase="failed", error=message))
        self._launched.set()

