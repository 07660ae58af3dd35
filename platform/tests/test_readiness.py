"""`/readyz` answers 503, naming the failed check, while the database or NATS is unreachable.

A real service (wallet: a database, and NATS for its events) runs in-process behind
TCP fault proxies to the session's PostgreSQL and NATS; cutting a proxy makes that
server unreachable for the service, as a stopped server or a broken network would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import make_url

from msa.tools.apptest import serve_in_process
from msa.tools.chaos.proxy import ProxyHub
from msa.tools.testing import PostgresForTests

READY = {"started": True, "database": True, "migrations": True, "nats": True}


@dataclass
class ProxiedService:
    http: httpx.AsyncClient
    proxies: ProxyHub


@pytest.fixture
async def wallet(msa_postgres: PostgresForTests, msa_nats: str) -> AsyncIterator[ProxiedService]:
    """Wallet on a fresh database, reaching PostgreSQL and NATS only through proxies."""
    database = make_url(msa_postgres.create_database())
    nats = urlsplit(msa_nats)
    with ProxyHub() as proxies:
        to_db = proxies.add("postgres", (database.host or "127.0.0.1", database.port or 5432))
        to_nats = proxies.add("nats", (nats.hostname or "127.0.0.1", nats.port or 4222))
        database_url = database.set(port=to_db.port).render_as_string(hide_password=False)
        async with serve_in_process("wallet", database_url=database_url,
                                    nats_url=f"nats://127.0.0.1:{to_nats.port}") as http:
            try:
                yield ProxiedService(http, proxies)
            finally:
                proxies.heal()  # let the service stop as it would normally


async def readyz_until(http: httpx.AsyncClient, status: int, seconds: float = 15.0
                       ) -> httpx.Response:
    """Poll /readyz until it answers `status` (the service notices a cut in its own time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        response = await http.get("/readyz")
        if response.status_code == status or loop.time() > deadline:
            return response
        await asyncio.sleep(0.1)


def not_ready(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def test_readyz_is_503_naming_the_database_while_it_is_unreachable(
    wallet: ProxiedService,
) -> None:
    assert (await wallet.http.get("/readyz")).json()["checks"] == READY

    wallet.proxies.set_fault("postgres", "cut")
    body = not_ready(await readyz_until(wallet.http, 503))
    assert body["detail"] == "not ready: database"
    assert body["checks"] == {**READY, "database": False}
    assert (await wallet.http.get("/healthz")).status_code == 200  # alive, just not ready

    wallet.proxies.heal("postgres")
    back = await readyz_until(wallet.http, 200)
    assert back.status_code == 200 and back.json()["checks"] == READY


async def test_readyz_is_503_naming_nats_while_it_is_unreachable(wallet: ProxiedService) -> None:
    assert (await wallet.http.get("/readyz")).status_code == 200

    wallet.proxies.set_fault("nats", "cut")
    body = not_ready(await readyz_until(wallet.http, 503))
    assert body["detail"] == "not ready: nats"
    assert body["checks"] == {**READY, "nats": False}

    wallet.proxies.heal("nats")
    back = await readyz_until(wallet.http, 200)
    assert back.status_code == 200 and back.json()["checks"] == READY
