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
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from msa import db, faults, nats_auth, tracing
from msa.deadline import DeadlineGuard
from msa.errors import ConfigError
from msa.gauges import start_gauges
from msa.logs import ActingUser
from msa.messaging import Broker, Subscription, start_messaging
from msa.messaging.api import router as outbox_router
from msa.messaging.outbox import declare_publishes
from msa.metrics import ObservedApp, build_info, metrics_response
from msa.metrics_access import operator_metrics
from msa.problems import PROBLEM_RESPONSES, install_problem_handlers, problem_response
from msa.runtime import BackgroundTask, Colocation, Runtime, StartupHook
from msa.sagas import SagaDefinition, SagaEngine
from msa.sagas.api import router as saga_router
from msa.service_guard import OperatorOnly, ServiceAuth, ServiceGuard
from msa.settings import ServiceSettings, load_settings
from msa.sqltrace import instrument_engine
from msa.storable_text import StorableText
from msa.system import System, load_system

_log = logging.getLogger("msa.service")


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
            # msa records its own server spans and metrics (msa.metrics.ObservedApp, one
            # per request): FastAPI's own would double them, and off it does not ask
            # OpenTelemetry on every request whether a provider was set
            telemetry={"tracing": False, "metrics": False, "logs": False},
        )
        app.state.runtime = runtime
        install_problem_handlers(app)
        for router in self.routers:
            app.include_router(router, responses=PROBLEM_RESPONSES)
        if spec.publishes and spec.database:
            app.include_router(outbox_router, responses=PROBLEM_RESPONSES)
        if self.sagas:
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
            declare_publishes(runtime.engine, self.name, spec.publishes)
            await _retry("database", lambda: db.migrate(runtime.db, self.migrations))
            runtime.migrated = True
        if spec.publishes or spec.consumes:
            login = nats_auth.credentials(settings.data_dir, self.name)
            runtime.broker = Broker(settings.nats_url, settings.instance_name, login)
            await _retry("nats", runtime.broker.connect)
            await runtime.broker.ensure_streams(
                runtime.system, nats_auth.streams_of(runtime.system, self.name) if login else None)
        for hook in self.on_startup:
            await hook(runtime)
        if runtime.broker is not None and spec.database:
            start_messaging(runtime, self.consumers)
        if self.sagas and runtime.engine is not None:
            runtime.sagas = SagaEngine(runtime, self.sagas)
            runtime.spawn("saga-recovery", runtime.sagas.recover_forever)
        for task in self.background:
            runtime.spawn(getattr(task, "__name__", "task"), functools.partial(task, runtime))
        start_gauges(runtime)
        if settings.faults:
            faults.arm(settings.faults, settings.env)
        runtime.started = True
        _log.info("service started", extra={"port": settings.port})


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
