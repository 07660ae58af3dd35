"""Our system as a benchmark target: started by the Runner, driven through the gateway.

Everything the bench does to it goes through the public HTTP API (register, log in,
top up, restock as an admin) or the operator's internal API, so the harness keeps
working whatever the services do inside.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from msa.checks import SystemAccess
from msa.system import load_system
from msa.tools.runner import Mode, Runner
from msa.tools.runner.databases import superuser_connection

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a-long-bench-password-1"  # the throw-away customers' password
UNLIMITED = {**{f"GATEWAY_{kind}_{what}": "1000000" for kind in ("IP", "USER", "LOGIN")
                for what in ("RATE", "BURST")},
             # sign-in's abuse guards (hash slots, failure throttling) are for strangers
             "IDENTITY_HASH_SLOTS": "256", "IDENTITY_HASH_SLOTS_PER_ADDRESS": "256",
             "IDENTITY_ADDRESS_FREE_FAILURES": "1000000"}
"""A throughput benchmark: every customer comes from 127.0.0.1 as fast as it can."""
BENCH_ENV = {"IDENTITY_SCRYPT_LOG2N": "11", **UNLIMITED}
"""Cheaper password hashing, so that registering the customers takes seconds."""
SERVICE_DATABASES = ("identity", "catalog", "reviews", "inventory", "orders", "wallet",
                     "ledger", "notifications", "gateway")


def start_runner(mode: Mode, **env: str) -> Runner:
    """A fresh system on free ports in a temporary data folder, ready."""
    data = Path(tempfile.mkdtemp(prefix=f"msa-bench-{mode}-"))
    runner = Runner(load_system(ROOT / "system.toml"), data_dir=data, mode=mode,
                    free_ports=True, env="test", env_overrides={**BENCH_ENV, **env})
    try:
        runner.start()
    except BaseException:
        runner.stop()
        shutil.rmtree(data, ignore_errors=True)
        raise
    return runner


def runner_roots(runner: Runner) -> list[int]:
    """Services, the fork server, PostgreSQL and NATS: the roots of the system's trees."""
    state = runner.status()
    roots = [i.pid for i in state.instances if i.pid]
    roots += [s.pid for s in (state.postgres, state.nats, state.forkserver)
              if s is not None and s.pid]
    return roots


class OurSystem:
    """(a) process mode or (b) monolith mode of the bookstore."""

    def __init__(self, mode: Mode, customers: int = 64, quick: bool = False) -> None:
        self.mode = mode
        self.name = mode
        self.wanted_customers = customers
        self.quick = quick  # restock only the first book (the one-hot one): seconds saved
        self.runner: Runner | None = None
        self.customers: list[dict[str, Any]] = []
        self.books: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        assert self.runner is not None
        return self.runner.gateway_url

    def start(self) -> None:
        self.runner = start_runner(self.mode)
        try:
            asyncio.run(self._prepare())
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            shutil.rmtree(self.runner.data_dir, ignore_errors=True)
            self.runner = None

    def roots(self) -> list[int]:
        assert self.runner is not None
        return runner_roots(self.runner)

    def job(self) -> dict[str, Any]:
        return {"kind": "checkout-msa", "base_url": self.base_url,
                "customers": self.customers, "books": self.books}

    def access(self) -> SystemAccess:
        assert self.runner is not None
        return SystemAccess(self.runner.addresses, data_dir=self.runner.data_dir, timeout=60)

    async def confirmed(self) -> int:
        """Confirmed orders, counted from the orders service's own records."""
        return await self.completed()

    async def completed(self) -> int:
        """Confirmed orders, counted from the orders service's own records."""
        access = self.access()
        try:
            audit = await access.get("orders", "/internal/orders/audit")
        finally:
            await access.aclose()
        return sum(1 for order in audit["orders"] if order["status"] == "CONFIRMED")

    async def database_counters(self) -> dict[str, int]:
        """Commits, rollbacks and rows touched, summed over every service database."""
        assert self.runner is not None
        conn = await superuser_connection(self.runner.servers.postgres)
        try:
            row = await conn.fetchrow(
                "SELECT sum(xact_commit) AS commits, sum(xact_rollback) AS rollbacks, "
                "sum(tup_inserted) AS inserted, sum(tup_updated) AS updated, "
                "sum(tup_deleted) AS deleted, sum(tup_returned) AS returned "
                "FROM pg_stat_database WHERE datname = ANY($1::text[])",
                list(SERVICE_DATABASES))
            statements = None
            if await conn.fetchval("SELECT 1 FROM pg_available_extensions WHERE name = "
                                   "'pg_stat_statements' AND current_setting("
                                   "'shared_preload_libraries') LIKE '%pg_stat_statements%'"):
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                statements = await conn.fetchval(
                    "SELECT sum(calls) FROM pg_stat_statements s JOIN pg_database d "
                    "ON d.oid = s.dbid WHERE d.datname = ANY($1::text[])",
                    list(SERVICE_DATABASES))
        finally:
            await conn.close()
        found = {key: int(value or 0) for key, value in dict(row).items()}
        if statements is not None:
            found["statements"] = int(statements)
        return found

    async def _prepare(self) -> None:
        assert self.runner is not None
        from bookstore.seed import seed

        access = self.access()
        http = httpx.AsyncClient(base_url=self.runner.gateway_url, timeout=60)
        try:
            await seed(access)
            self.books = await _catalogue(http)
            limit = asyncio.Semaphore(16)

            async def restock(book_id: str) -> None:
                async with limit:
                    await access.post("inventory", "/internal/inventory/restock",
                                      {"book_id": book_id, "quantity": 100_000},
                                      headers={"Idempotency-Key": f"bench:{book_id}"})

            await asyncio.gather(*(restock(book["id"])
                                   for book in self.books[:1 if self.quick else None]))

            async def customer(i: int) -> dict[str, Any]:
                async with limit:
                    return await _new_customer(http, i)

            self.customers = list(await asyncio.gather(
                *(customer(i) for i in range(self.wanted_customers))))
        finally:
            await access.aclose()
            await http.aclose()


async def _catalogue(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every book's id and price, page by page."""
    books: list[dict[str, Any]] = []
    offset = 0
    while True:
        items = (await _send(http, "/api/catalog/books", None, {},
                             params={"limit": 100, "offset": offset}))["items"]
        books += [{"id": item["id"], "price": item["price_cents"]} for item in items]
        if len(items) < 100:
            return books
        offset += len(items)


async def _new_customer(http: httpx.AsyncClient, i: int) -> dict[str, Any]:
    email = f"bench{i}-{uuid.uuid4().hex[:8]}@example.com"
    await _send(http, "/api/identity/register", {"email": email, "password": PASSWORD},
                {"Idempotency-Key": uuid.uuid4().hex})
    login = await _send(http, "/api/identity/login", {"email": email, "password": PASSWORD}, {})
    token = str(login["access_token"])
    await _send(http, "/api/wallet/topups", {"amount_cents": 1_000_000},
                {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
    return {"token": token}


async def _send(http: httpx.AsyncClient, path: str, body: dict[str, Any] | None,
                headers: dict[str, str], **params: Any) -> Any:
    """POST `body` (GET without one), again with the same key if the connection drops (a
    busy machine closes idle keep-alive connections under our feet); every call here is
    safe to repeat."""
    for attempt in range(4):
        try:
            response = await (http.get(path, headers=headers, **params) if body is None else
                              http.post(path, json=body, headers=headers))
        except httpx.TransportError:
            if attempt == 3:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
            continue
        response.raise_for_status()
        return response.json()
    raise AssertionError("unreachable")
