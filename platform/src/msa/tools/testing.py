"""pytest plugin (`-p msa.tools.testing`): real PostgreSQL, NATS and whole systems per session.

Fixtures (all session-scoped, all real servers on free ports, all stopped at the end
of the session even when tests fail):

- `msa_postgres` → `PostgresForTests`: `create_database()` hands out a fresh
  database with its own role and returns its URL.
- `msa_nats` → the URL of a NATS server with JetStream.
- `msa_system_factory` → `start(mode="process", ...)` runs a whole system with
  `Runner(..., free_ports=True)` in a temporary data folder and returns the Runner.
- `msa_system` → the repository's system in process mode, started once.

`fake_service_command` stands in for `msa.serve` when only the runner is under test.

Importing this module is cheap: the runner is imported when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    from msa.system import System
    from msa.tools.runner import Runner
    from msa.tools.runner.postgres import PostgresServer


class PostgresForTests:
    """A PostgreSQL server for the test session."""

    def __init__(self, server: PostgresServer, superuser_password: str) -> None:
        self.server = server
        self.host = "127.0.0.1"
        self.port = server.port
        self.superuser_password = superuser_password

    @property
    def url(self) -> str:
        """The superuser's URL (to the `postgres` database)."""
        return self.server.url("postgres", self.superuser_password, "postgres")

    def create_database(self, name: str | None = None) -> str:
        """A fresh database owned by a new role of the same name; returns its URL.

        The role can connect to this database only, as a service's role can.
        """
        import asyncio
        import secrets
        from concurrent.futures import ThreadPoolExecutor

        from msa.tools.runner.databases import ensure_database, new_password, superuser_connection

        name = name or f"test_{secrets.token_hex(6)}"
        password = new_password()

        async def create() -> None:
            conn = await superuser_connection(self.server)
            try:
                await ensure_database(conn, name, password)
            finally:
                await conn.close()

        # A thread of its own: callers may be inside a running event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, create()).result()
        return self.server.url(name, password, name)


_FAKE_SERVICE = """
import http.server, json, os, socket, sys, threading
crash = os.environ.get("FAKE_CRASH", "")
if os.environ["MSA_SERVICE"] in crash.split(","):
    print("fake service: told to crash", file=sys.stderr, flush=True)
    sys.exit(int(os.environ.get("FAKE_CRASH_CODE", "3")))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        env = {k: v for k, v in os.environ.items() if k.startswith("MSA_")}
        body = json.dumps({"pid": os.getpid(), "env": env}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Shared(http.server.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()
port = int(os.environ["MSA_PORT"])
if os.environ.get("MSA_SHARED_PORT"):  # a monolith worker: the public port is shared
    shared = Shared(("127.0.0.1", int(os.environ["MSA_SHARED_PORT"])), Handler)
    threading.Thread(target=shared.serve_forever, daemon=True).start()
print(json.dumps({"level": "info", "msg": "fake service listening", "port": port}), flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def fake_service_command(service: str) -> list[str]:
    """A stand-in for `python -m msa.serve`: answers 200 with its pid and MSA_* variables
    on every path (so `/readyz` too), on MSA_PORT and on MSA_SHARED_PORT if set. Services
    named in $FAKE_CRASH (comma-separated) exit at once with code $FAKE_CRASH_CODE
    (default 3). For testing the runner without real services."""
    import sys

    return [sys.executable, "-c", _FAKE_SERVICE]


class SystemFactory(Protocol):
    """Starts a whole system; see `msa_system_factory`."""

    def __call__(
        self,
        mode: str = "process",
        *,
        system: System | Path | str | None = None,
        env: str = "test",
        env_overrides: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        command: Callable[[str], Sequence[str]] | None = None,
        ready_timeout: float = 120.0,
        workers: int | None = None,
    ) -> Runner: ...


@pytest.fixture(scope="session")
def msa_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresForTests]:
    """A real PostgreSQL on a free port, for the whole session."""
    from msa.tools.runner.databases import new_password
    from msa.tools.runner.ports import free_port
    from msa.tools.runner.postgres import PostgresServer

    root = tmp_path_factory.mktemp("msa-postgres")
    server = PostgresServer(root / "data", port=free_port(), log_path=root / "postgres.log")
    password = new_password()
    try:
        server.init(password)
        server.start()
        yield PostgresForTests(server, password)
    finally:
        server.stop("fast")


@pytest.fixture(scope="session")
def msa_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real NATS server with JetStream on a free port, for the whole session."""
    from msa.tools.runner.nats import NatsServer
    from msa.tools.runner.ports import free_port

    root = tmp_path_factory.mktemp("msa-nats")
    server = NatsServer(root / "store", port=free_port(), monitor_port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def msa_system_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemFactory]:
    """`start(mode, system=..., env=..., env_overrides=..., command=..., workers=...)` → a
    ready Runner (a monolith's `workers` default to one per core).

    `system` defaults to the nearest system.toml ($MSA_SYSTEM_FILE first). Every
    system started is stopped at the end of the session.
    """
    runners: list[Runner] = []

    def start(
        mode: str = "process",
        *,
        system: System | Path | str | None = None,
        env: str = "test",
        env_overrides: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        command: Callable[[str], Sequence[str]] | None = None,
        ready_timeout: float = 120.0,
        workers: int | None = None,
    ) -> Runner:
        from msa.system import System, load_system
        from msa.tools.runner import MODES, Runner

        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        loaded = system if isinstance(system, System) else load_system(system)
        runner = Runner(loaded, data_dir=tmp_path_factory.mktemp(f"msa-{mode}"),
                        mode=mode,
                        free_ports=True, env=env, env_overrides=env_overrides,
                        service_env=service_env, command=command,
                        ready_timeout=ready_timeout, workers=workers)
        runners.append(runner)
        runner.start()
        return runner

    try:
        yield start
    finally:
        for runner in reversed(runners):
            runner.stop()


@pytest.fixture(scope="session")
def msa_system(msa_system_factory: SystemFactory) -> Runner:
    """The repository's system in process mode (started on first use, once per session)."""
    return msa_system_factory("process")
