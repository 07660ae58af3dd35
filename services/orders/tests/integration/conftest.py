"""Orders in-process with the services its checkout calls, each on its own fresh database.

Catalog, inventory, wallet and ledger run in this process too (real PostgreSQL and
NATS, as in monolith mode): orders reaches them through the in-process transport with
the same service tokens and validation as over sockets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest

from msa.runtime import Colocation
from msa.serve import load_factory
from msa.settings import ServiceSettings
from msa.system import load_system
from msa.tools.apptest import run_app

CALLEES = ("catalog", "inventory", "wallet", "ledger")
ADMIN = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}


@dataclass
class Shop:
    """Clients of each running service, calling as the gateway does."""

    orders: httpx.AsyncClient
    catalog: httpx.AsyncClient
    inventory: httpx.AsyncClient
    wallet: httpx.AsyncClient


@pytest.fixture(scope="module")
async def shop(msa_postgres, msa_nats) -> AsyncIterator[Shop]:
    system = load_system()
    colocation = Colocation()
    for name in (*CALLEES, "orders"):
        settings = ServiceSettings(service=name, instance=f"{name}-test", env="test",
                                   nats_url=msa_nats, database_url=msa_postgres.create_database())
        colocation.apps[name] = load_factory(system.service(name).app)(
            settings, system=system, colocation=colocation)
    async with AsyncExitStack() as stack:
        clients = {}
        for name in (*CALLEES, "orders"):  # the callees are up before orders starts
            clients[name] = await stack.enter_async_context(run_app(
                colocation.apps[name], base_url=f"http://{name}", caller=system.system.gateway))
        yield Shop(clients["orders"], clients["catalog"], clients["inventory"], clients["wallet"])
        for client in clients.values():
            broker = client.app.state.runtime.broker  # type: ignore[attr-defined]
            if broker is not None:
                # nats-py's drain waits its full 30 s for a pull subscription whose fetch
                # timed out (see services/inventory/tests/integration/conftest.py)
                broker.nc.options["drain_timeout"] = 1


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def customer() -> dict[str, str]:
    """A new customer's headers, as the gateway sets them."""
    return {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "customer"}


@pytest.fixture
def new_book(shop: Shop) -> Callable[..., Awaitable[str]]:
    """A function making a book in the catalog with `copies` in stock; returns its id."""

    async def make(copies: int = 10, price_cents: int = 1250) -> str:
        digits = "979" + str(uuid.uuid4().int)[:9]
        check = -sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10
        created = await shop.catalog.post("/api/catalog/admin/books", headers={**ADMIN, **key()},
                                          json={"isbn": f"{digits}{check}", "title": "A Book",
                                                "author": "An Author",
                                                "price_cents": price_cents, "year": 2021})
        assert created.status_code == 201, created.text
        book: str = created.json()["id"]
        for _ in range(200):  # inventory learns of the book from catalog's event
            if (await shop.inventory.get(f"/api/inventory/stock/{book}")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        if copies:
            restocked = await shop.inventory.post(
                "/api/inventory/admin/restock", json={"book_id": book, "quantity": copies},
                headers={**ADMIN, **key()})
            assert restocked.status_code == 200, restocked.text
        return book

    return make


@pytest.fixture
def credited(shop: Shop) -> Callable[[int], Awaitable[dict[str, str]]]:
    """A function making a customer with `cents` in their wallet; returns their headers."""

    async def make(cents: int) -> dict[str, str]:
        who = customer()
        topped = await shop.wallet.post("/api/wallet/topups", json={"amount_cents": cents},
                                        headers={**who, **key()})
        assert topped.status_code == 201, topped.text
        return who

    return make
