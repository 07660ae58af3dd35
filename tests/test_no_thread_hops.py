"""No request waits on the thread pool: every endpoint and every dependency is async.

FastAPI runs a plain `def` endpoint or dependency in a worker thread (anyio's pool):
a hop out of the event loop and back for each one, on every request. A hop costs
more than the function it runs here (reading a header, checking a role), so the
platform's dependencies (`IdempotencyKey`, `CurrentUser`, `AdminUser`, operator-only
routes) and every service's routes are `async def`. This walks the dependency tree of
every route of every service, and of the platform's own routers, and names any
callable that would be sent to the pool.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi.dependencies.models import (
    Dependant,
    _is_async_gen_callable,
    _is_coroutine_callable,
)
from fastapi.routing import APIRoute, APIRouter

from msa.messaging.api import router as outbox_router
from msa.sagas.api import router as saga_router
from msa.system import load_system


def _sync_callables(dependant: Dependant) -> list[str]:
    found = []
    call: Any = dependant.call
    if call is not None and not (_is_coroutine_callable(call) or _is_async_gen_callable(call)):
        found.append(getattr(call, "__qualname__", repr(call)))
    for sub in dependant.dependencies:
        found += _sync_callables(sub)
    return found


def _routers() -> dict[str, list[APIRouter]]:
    routers = {"msa": [outbox_router, saga_router]}
    for svc in load_system().services.values():
        module = importlib.import_module(svc.app.split(":")[0])
        routers[svc.name] = list(module.service.routers)
    return routers


def test_every_route_and_dependency_runs_on_the_event_loop():
    hops = []
    routers = _routers()
    assert {"orders", "inventory", "wallet", "ledger", "gateway"} <= set(routers)
    for name, service_routers in routers.items():
        for router in service_routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    hops += [f"{name} {route.path}: {call}"
                             for call in _sync_callables(route.dependant)]
    assert not hops, "sent to the thread pool on every request:\n" + "\n".join(hops)
