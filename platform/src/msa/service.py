"""The service app factory: what every service gets without writing it.

A service declares itself once:

    service = ServiceDefinition(
        "catalog",
        routers=[api.router],
        migrations=Path(__file__).parent / "migrations",
        consumers=[consumers.rating_changed],
    )
    create_app = service.create_app

and `create_app(settings)` builds a FastAPI app with typed settings, `/healthz`,
`/readyz`, `/metrics`, JSON logs, problem+json errors, its database migrated at
start, an outbox relay, inbox consumers, background tasks, service clients and a
graceful shutdown. The composition root is `Runtime`: nothing connects at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from msa import db, tracing
from msa.client import ServiceClient
from msa.deadline import DeadlineGuard
from msa.errors import ConfigError
from msa.logs import ActingUser
from msa.metrics import ObservedApp, build_info, metrics_response
from msa.problems import PROBLEM_RESPONSES, install_problem_handlers, problem_response
from msa.service_auth import ServiceTokenAuth
from msa.service_guard import OperatorOnly, ServiceAuth, ServiceGuard
from msa.settings import ServiceSettings, load_settings
from msa.sqltrace import instrument_engine
from msa.storable_text import StorableText
from msa.system import System, load_system
from msa.tasks import CLOSE_TIMEOUT, stop_tasks

if TYPE_CHECKING:
    from msa.messaging import Broker, Subscription
    from msa.sagas import SagaDefinition, SagaEngine

_log = logging.getLogger("msa.service")

StartupHook = Callable[["Runtime"], Awaitable[None]]
BackgroundTask = Callable[["Runtime"], Awaitable[None]]


@dataclass
class Colocation:
    """Services running in this process (monolith mode): name → ASGI app."""

    apps: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runtime:
    """Everything a running service holds: settings, database, broker, clients."""

    definition: ServiceDefinition
    settings: ServiceSettings
    system: System
    colocation: Colocation | None = None
    engine: AsyncEngine | None = None
    broker: Broker | None = None
    sagas: SagaEngine | None = None
    auth: ServiceAuth | None = None  # this service's credentials and who may call it
    migrated: bool = False
    started: bool = False
    state: dict[str, Any] = field(default_factory=dict)  # the service's own long-lived objects
    _clients: dict[str, ServiceClient] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def db(self) -> AsyncEngine:
        if self.engine is None:
            raise RuntimeError(f"service {self.name!r} has no database")
        return self.engine

    def client(self, target: str) -> ServiceClient:
        """The one client this process uses to call `target`."""
        existing = self._clients.get(target)
        if existing is not None:
            return existing
        me = self.system.service(self.name)
        callee = self.system.service(target)
        if self.colocation and target in self.colocation.apps:
            from msa.transport.inprocess import InProcessTransport

            transport = InProcessTransport(self.colocation.apps[target], target)
            client = ServiceClient(self.name, target, [f"http://{target}"],
                                   edge=me.edge(target), transport=transport,
                                   auth=self._auth(target))
        else:
            urls = self.settings.addresses.get(target) or [
                f"http://127.0.0.1:{port}" for port in callee.ports
            ]
            client = ServiceClient(self.name, target, urls, edge=me.edge(target),
                                   auth=self._auth(target))
        self._clients[target] = client
        return client

    def _auth(self, target: str) -> ServiceTokenAuth | None:
        return None if self.auth is None else ServiceTokenAuth(self.auth.credentials, target)

    def spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` in the background for the life of the service, restarting it on error."""

        async def forever() -> None:
            delay = 0.2
            while True:
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("background task %s failed; restarting in %.1fs", name, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

        self._tasks.append(asyncio.create_task(forever(), name=f"{self.name}:{name}"))

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {"started": self.started}
        if self.engine is not None:
            checks["database"] = await db.ping(self.engine)
            checks["migrations"] = self.migrated
        if self.broker is not None:
            checks["nats"] = self.broker.connected
        return checks

    async def close(self) -> None:
        stuck = await stop_tasks(self._tasks, CLOSE_TIMEOUT)
        for task in self._tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: it was logged where it happened
        for task in stuck:
            _log.error("background task %s did not stop within %gs of its cancellation",
                       task.get_name(), CLOSE_TIMEOUT)
        self._tasks.clear()
        if self.sagas is not None:
            await self.sagas.close()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self.broker is not None:
            await self.broker.close()
        if self.engine is not None:
            await self.engine.dispose()


class ServiceDefinition:
    """What a service is made of; `create_app` builds it from settings."""

    def __init__(
        self,
        name: str,
        *,
        routers: Sequence[APIRouter] = (),
        migrations: Path | None = None,
        consumers: Sequence[Subscription] = (),
        on_startup: Sequence[StartupHook] = (),
        background: Sequence[BackgroundTask] = (),
        sagas: Sequence[SagaDefinition] = (),
        title: str | None = None,
        public: bool = False,
    ) -> None:
        self.name = name
        self.routers = list(routers)
        self.migrations = migrations
        self.consumers = list(consumers)
        self.on_startup = list(on_startup)
        self.background = list(background)
        self.sagas = list(sagas)
        self.title = title or name
        self.public = public  # the public edge: only its /internal routes need a service token

    def create_app(
        self,
        settings: ServiceSettings | None = None,
        *,
        system: System | None = None,
        colocation: Colocation | None = None,
    ) -> FastAPI:
        """Build the service's ASGI app. Nothing connects until the app starts."""
        settings = settings or load_settings(self.name)
        system = system or load_system(settings.system_file)
        spec = system.service(self.name)
        if spec.database and settings.database_url is None:
            raise ConfigError(f"{self.name}: setting MSA_DATABASE_URL is missing")
        undeclared = [sub.event_type for sub in self.consumers
                      if sub.event_type not in spec.consumes]
        if undeclared:
            listed = ", ".join(repr(event_type) for event_type in undeclared)
            raise ConfigError(f"{self.name}: subscribes to {listed}, which services."
                              f"{self.name}.consumes in system.toml does not list")
        runtime = Runtime(self, settings, system, colocation)

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            try:
                await self._start(runtime)
                yield
            finally:
                await runtime.close()

        app = FastAPI(
            title=f"{self.title} ({system.system.name})",
            version=settings.version,
            lifespan=lifespan,
            openapi_url="/openapi.json",
            docs_url="/docs",
            redoc_url=None,
        )
        app.state.runtime = runtime
        install_problem_handlers(app)
        for router in self.routers:
            app.include_router(router, responses=PROBLEM_RESPONSES)
        if spec.publishes and spec.database:
            from msa.messaging.api import router as outbox_router

            app.include_router(outbox_router, responses=PROBLEM_RESPONSES)
        if self.sagas:
            from msa.sagas.api import router as saga_router

            app.include_router(saga_router, responses=PROBLEM_RESPONSES)
        _add_operational_routes(app, runtime)
        tracing.setup(self.name, version=settings.version, instance=settings.instance_name,
                      enabled=settings.tracing, buffer=settings.trace_buffer,
                      otlp_endpoint=settings.otlp_endpoint,
                      sample_ratio=settings.trace_sample_ratio)
        app.add_middleware(StorableText)  # innermost: after the caller is known
        app.add_middleware(DeadlineGuard)
        if not self.public:  # at the edge X-User-Id comes from the client: not a fact
            app.add_middleware(ActingUser)
        app.add_middleware(ServiceGuard, runtime=runtime)
        app.add_middleware(ObservedApp, service=self.name)
        build_info(self.name, settings.version, settings.git_sha, system.root)
        return app

    async def _start(self, runtime: Runtime) -> None:
        settings = runtime.settings
        spec = runtime.system.service(self.name)
        runtime.auth = ServiceAuth.load(self.name, runtime.system, settings.data_dir,
                                        production=settings.env == "production",
                                        public=self.public)
        if spec.database:
            assert settings.database_url is not None
            runtime.engine = db.create_engine(
                settings.database_url.get_secret_value(),
                pool_size=settings.db_pool_size,
                application_name=settings.instance_name,
            )
            instrument_engine(runtime.engine, self.name)
            from msa.messaging.outbox import declare_publishes

            declare_publishes(runtime.engine, self.name, spec.publishes)
            await _retry("database", lambda: db.migrate(runtime.db, self.migrations))
            runtime.migrated = True
        if spec.publishes or spec.consumes:
            from msa import nats_auth
            from msa.messaging import Broker

            login = nats_auth.credentials(settings.data_dir, self.name)
            runtime.broker = Broker(settings.nats_url, settings.instance_name, login)
            await _retry("nats", runtime.broker.connect)
            await runtime.broker.ensure_streams(
                runtime.system, nats_auth.streams_of(runtime.system, self.name) if login else None)
        for hook in self.on_startup:
            await hook(runtime)
        if runtime.broker is not None and spec.database:
            from msa.messaging import start_messaging

            start_messaging(runtime, self.consumers)
        if self.sagas and runtime.engine is not None:
            from msa.sagas import SagaEngine

            runtime.sagas = SagaEngine(runtime, self.sagas)
            runtime.spawn("saga-recovery", runtime.sagas.recover_forever)
        for task in self.background:
            runtime.spawn(getattr(task, "__name__", "task"), functools.partial(task, runtime))
        from msa.monitoring.gauges import start_gauges

        start_gauges(runtime)
        if settings.faults:
            from msa import faults

            faults.arm(settings.faults, settings.env)
        runtime.started = True
        _log.info("service started", extra={"port": settings.port})


async def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the runtime of the service handling `request`."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def _add_operational_routes(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        if all(checks.values()):
            return JSONResponse({"status": "ready", "service": runtime.name, "checks": checks})
        failing = ", ".join(name for name, ok in checks.items() if not ok)
        return problem_response(503, "Not ready", f"not ready: {failing}", "/readyz",
                                checks=checks)

    if runtime.definition.public:  # the public port: metrics for the operator's scraper only
        from msa.metrics_access import operator_metrics

        app.add_route("/metrics", operator_metrics(
            runtime.settings.data_dir, production=runtime.settings.env == "production"),
            include_in_schema=False)
    else:
        app.add_route("/metrics", metrics_response, include_in_schema=False)
    app.add_route("/internal/traces", tracing.traces_endpoint, include_in_schema=False)
    if runtime.settings.env != "production":
        _add_fault_routes(app, runtime)


def _add_fault_routes(app: FastAPI, runtime: Runtime) -> None:
    """Test-only: arm crash points at run time (never mounted in production)."""
    from msa import faults

    @app.post("/internal/faults", include_in_schema=False, dependencies=[OperatorOnly])
    async def arm_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        faults.arm(str(body.get("points", "")), runtime.settings.env)
        return {"armed": faults.armed()}

    @app.delete("/internal/faults", include_in_schema=False, dependencies=[OperatorOnly])
    async def disarm_faults() -> dict[str, Any]:
        faults.disarm()
        return {"armed": faults.armed()}


async def _retry(what: str, attempt: Callable[[], Awaitable[Any]], seconds: float = 30) -> None:
    """Keep trying `attempt` for a while: dependencies may still be starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    delay = 0.1
    while True:
        try:
            await attempt()
            return
        except (OSError, ConnectionError, TimeoutError) as exc:
            if loop.time() > deadline:
                raise ConfigError(f"{what} unreachable: {exc}") from exc
        except Exception as exc:
            if loop.time() > deadline or not _is_transient(exc):
                raise
        _log.warning("%s not reachable yet; retrying", what)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


def _is_transient(exc: BaseException) -> bool:
    name = type(exc).__name__
    return any(word in name for word in ("Connect", "Timeout", "CannotConnect", "NoServers")) or (
        "connection" in str(exc).lower()
    )
