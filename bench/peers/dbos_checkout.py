"""(e) The DBOS peer's process: the HTTP front and a DBOS workflow of five steps.

    python -m bench.peers.dbos_checkout '{"port": P, "system_database_url": ...,
                                          "dsns": {"orders": ..., "inventory": ...}}'

DBOS checkpoints the workflow and each step's result in its system database (on
the same PostgreSQL); each step is one transaction in its participant's database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from dbos import DBOS

from bench.peers import steps
from bench.peers.front import Checkout, config, serve

_pools: dict[str, asyncpg.Pool] = {}


@DBOS.step(name="reserve_stock")
async def reserve_stock(order_id: str, book_id: str) -> None:
    async with _pools["inventory"].acquire() as conn, conn.transaction():
        await steps.reserve_stock(conn, uuid.UUID(order_id), uuid.UUID(book_id))


@DBOS.step(name="debit_wallet")
async def debit_wallet(order_id: str, user_id: str, price: int) -> None:
    async with _pools["wallet"].acquire() as conn, conn.transaction():
        await steps.debit_wallet(conn, uuid.UUID(order_id), uuid.UUID(user_id), price)


@DBOS.step(name="credit_revenue")
async def credit_revenue(order_id: str, price: int) -> None:
    async with _pools["ledger"].acquire() as conn, conn.transaction():
        await steps.credit_revenue(conn, uuid.UUID(order_id), price)


@DBOS.step(name="confirm_order")
async def confirm_order(order_id: str) -> None:
    async with _pools["orders"].acquire() as conn:
        await steps.confirm_order(conn, uuid.UUID(order_id))


@DBOS.step(name="commit_reservation")
async def commit_reservation(order_id: str, book_id: str) -> None:
    async with _pools["inventory"].acquire() as conn, conn.transaction():
        await steps.commit_reservation(conn, uuid.UUID(order_id), uuid.UUID(book_id))


@DBOS.workflow(name="checkout")
async def checkout_workflow(order_id: str, user_id: str, book_id: str, price: int) -> str:
    """The five steps in the saga's order; each is checkpointed once it has run."""
    await reserve_stock(order_id, book_id)
    await debit_wallet(order_id, user_id, price)
    await credit_revenue(order_id, price)
    await confirm_order(order_id)
    await commit_reservation(order_id, book_id)
    return "CONFIRMED"


def main() -> None:
    settings = config()

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[Checkout]:
        for name, dsn in settings["dsns"].items():
            _pools[name] = await asyncpg.create_pool(dsn, min_size=2, max_size=16)
        DBOS(config={"name": "bench-checkout", "log_level": "WARNING",
                     "system_database_url": settings["system_database_url"]})
        DBOS.launch()

        async def checkout(order_id: uuid.UUID, user_id: uuid.UUID, book_id: uuid.UUID,
                           price: int) -> None:
            async with _pools["orders"].acquire() as conn, conn.transaction():
                await steps.create_order(conn, order_id, user_id, book_id, price)
            await checkout_workflow(str(order_id), str(user_id), str(book_id), price)

        try:
            yield checkout
        finally:
            DBOS.destroy()
            for pool in _pools.values():
                await pool.close()

    serve(int(settings["port"]), lifespan)


async def completed_workflows(conn: Any) -> int:
    """Checkout workflows DBOS recorded as succeeded, from its system database."""
    return int(await conn.fetchval(
        "SELECT count(*) FROM dbos.workflow_status WHERE name = 'checkout' "
        "AND status = 'SUCCESS'"))


if __name__ == "__main__":
    main()
