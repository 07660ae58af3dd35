"""Run one service's app in-process for tests, on real PostgreSQL and NATS.

    async with serve_in_process("wallet", database_url=url, nats_url=nats) as http:
        response = await http.post("/api/wallet/topups", ...)

The app starts exactly as in production (migrations, relay, consumers, the service
guard); only the socket is skipped: requests go through httpx's ASGI transport. The
client carries a service token: `serve_in_process` calls as the system's gateway
(so `X-User-Id` headers are trusted, as behind the real gateway) and, on the
`/internal/*` routes the gateway may not call, as the operator; `run_app` calls as
the operator; `caller=` picks one caller for everything, `anonymous=True` sends none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from msa.serve import load_factory
from msa.service_auth import OPERATOR, ServiceTokenAuth, ensure_keys, key_folder, load_credentials
from msa.settings import ServiceSettings
from msa.system import System, load_system


@asynccontextmanager
async def serve_in_process(
    service: str,
    *,
    database_url: str | None = None,
    nats_url: str = "nats://127.0.0.1:4222",
    system: System | None = None,
    headers: dict[str, str] | None = None,
    caller: str | None = None,
    anonymous: bool = False,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """Start `service` in this process and yield an HTTP client bound to it."""
    system = system or load_system()
    options: dict[str, Any] = {"service": service, "instance": f"{service}-test", "env": "test",
                               "nats_url": nats_url, **settings}
    if database_url is not None:
        options["database_url"] = database_url
    app = load_factory(system.service(service).app)(ServiceSettings(**options), system=system)
    async with run_app(app, base_url=f"http://{service}", headers=headers,
                       caller=caller or system.system.gateway, anonymous=anonymous) as client:
        if caller is None and not anonymous:
            client.auth = _GatewayOrOperator(app, system.system.gateway)
        yield client


@asynccontextmanager
async def run_app(app: Any, *, base_url: str = "http://app",
                  headers: dict[str, str] | None = None, caller: str = OPERATOR,
                  anonymous: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """Run an ASGI app's lifespan and yield a client that calls it in-process as `caller`."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        auth = None if anonymous else caller_auth(app, caller)
        async with httpx.AsyncClient(transport=transport, base_url=base_url,
                                     headers=headers or {}, auth=auth) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def caller_auth(app: Any, caller: str) -> httpx.Auth | None:
    """Service-token authentication as `caller` for a started msa app (None for others)."""
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        return None
    folder = key_folder(runtime.settings.data_dir)
    ensure_keys(folder, [caller])
    return ServiceTokenAuth(load_credentials(folder, caller), runtime.name)


class _GatewayOrOperator(httpx.Auth):
    """Signs as the gateway where it may call, else as the operator: a service's tests
    play both its users (behind the gateway) and the services and checkers calling it."""

    def __init__(self, app: Any, gateway: str) -> None:
        self._auth = app.state.runtime.auth
        self._gateway = caller_auth(app, gateway)
        self._operator = caller_auth(app, OPERATOR)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        gateway_may = self._auth.refusal(self._auth.gateway, request.url.path) is None
        chosen = self._gateway if gateway_may else self._operator
        assert chosen is not None
        yield from chosen.auth_flow(request)
