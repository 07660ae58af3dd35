"""What a running service holds: its settings, database, broker, clients and background
tasks. Low in the stack: messaging, sagas and routes depend on it; the app factory
(`msa.service`) builds it and wires the parts together on start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from msa import db
from msa.client import ServiceClient
from msa.service_auth import ServiceTokenAuth
from msa.settings import ServiceSettings
from msa.system import System
from msa.tasks import stop_tasks

if TYPE_CHECKING:
    from msa.messaging import Broker
    from msa.sagas import SagaEngine
    from msa.service import ServiceDefinition
    from msa.service_guard import ServiceAuth

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
        await stop_tasks(self._tasks)
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


async def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the runtime of the service handling `request`."""
    runtime: Runtime = request.app.state.runtime
    return runtime
