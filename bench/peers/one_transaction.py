"""(c) The checkout as one ACID transaction in one database: the floor of its cost.

    python -m bench.peers.one_transaction '{"port": P, "dsn": "postgresql://..."}'

The order, the stock reservation, the debit, the ledger entry, the confirmation and
the reservation's commit commit together or not at all, so no saga, no outbox and
no idempotency record is needed: this is the seed's monolith.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from bench.peers import steps
from bench.peers.front import Checkout, config, serve


def main() -> None:
    settings = config()

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[Checkout]:
        pool = await asyncpg.create_pool(settings["dsn"], min_size=4,
                                         max_size=int(settings.get("pool", 16)))

        async def checkout(order_id: uuid.UUID, user_id: uuid.UUID, book_id: uuid.UUID,
                           price: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await _one_transaction(conn, order_id, user_id, book_id, price)

        try:
            yield checkout
        finally:
            await pool.close()

    serve(int(settings["port"]), lifespan)


async def _one_transaction(conn: asyncpg.Connection, order_id: uuid.UUID, user_id: uuid.UUID,
                           book_id: uuid.UUID, price: int) -> None:
    """The five steps' statements, in the order the saga runs them, in one transaction."""
    await steps.create_order(conn, order_id, user_id, book_id, price)
    await steps.reserve_stock(conn, order_id, book_id)
    await steps.debit_wallet(conn, order_id, user_id, price)
    await steps.credit_revenue(conn, order_id, price)
    await steps.confirm_order(conn, order_id)
    await steps.commit_reservation(conn, order_id, book_id)


if __name__ == "__main__":
    main()
