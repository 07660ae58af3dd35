"""(d) The Temporal peer's process: the HTTP front, a Temporal client and a worker.

    python -m bench.peers.temporal_checkout '{"port": P, "temporal": "127.0.0.1:T",
                                              "dsns": {"orders": ..., "inventory": ...}}'

The front writes the PENDING order (as our orders service does) and runs the
`Checkout` workflow to its end on the Temporal dev server; the worker in this same
process runs the activities, each one transaction in its participant's database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from bench.peers import steps
from bench.peers.front import Checkout, config, serve
from bench.peers.temporal_workflow import TASK_QUEUE
from bench.peers.temporal_workflow import Checkout as CheckoutWorkflow


def activities(pools: dict[str, asyncpg.Pool]) -> list[Any]:
    """The five steps as activities, each one transaction in its own database."""

    def ids(order: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, int]:
        return (uuid.UUID(order["order"]), uuid.UUID(order["user"]), uuid.UUID(order["book"]),
                int(order["price"]))

    @activity.defn(name="reserve_stock")
    async def reserve_stock(order: dict[str, Any]) -> None:
        order_id, _, book, _ = ids(order)
        async with pools["inventory"].acquire() as conn, conn.transaction():
            await steps.reserve_stock(conn, order_id, book)

    @activity.defn(name="debit_wallet")
    async def debit_wallet(order: dict[str, Any]) -> None:
        order_id, user, _, price = ids(order)
        async with pools["wallet"].acquire() as conn, conn.transaction():
            await steps.debit_wallet(conn, order_id, user, price)

    @activity.defn(name="credit_revenue")
    async def credit_revenue(order: dict[str, Any]) -> None:
        order_id, _, _, price = ids(order)
        async with pools["ledger"].acquire() as conn, conn.transaction():
            await steps.credit_revenue(conn, order_id, price)

    @activity.defn(name="confirm_order")
    async def confirm_order(order: dict[str, Any]) -> None:
        async with pools["orders"].acquire() as conn:
            await steps.confirm_order(conn, ids(order)[0])

    @activity.defn(name="commit_reservation")
    async def commit_reservation(order: dict[str, Any]) -> None:
        order_id, _, book, _ = ids(order)
        async with pools["inventory"].acquire() as conn, conn.transaction():
            await steps.commit_reservation(conn, order_id, book)

    return [reserve_stock, debit_wallet, credit_revenue, confirm_order, commit_reservation]


def main() -> None:
    settings = config()

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[Checkout]:
        pools = {name: await asyncpg.create_pool(dsn, min_size=2, max_size=16)
                 for name, dsn in settings["dsns"].items()}
        client = await Client.connect(settings["temporal"])
        worker = Worker(client, task_queue=TASK_QUEUE, workflows=[CheckoutWorkflow],
                        activities=activities(pools), max_concurrent_activities=64)

        async def checkout(order_id: uuid.UUID, user_id: uuid.UUID, book_id: uuid.UUID,
                           price: int) -> None:
            async with pools["orders"].acquire() as conn, conn.transaction():
                await steps.create_order(conn, order_id, user_id, book_id, price)
            order = {"order": str(order_id), "user": str(user_id), "book": str(book_id),
                     "price": price}
            try:
                await client.execute_workflow(CheckoutWorkflow.run, order, id=str(order_id),
                                              task_queue=TASK_QUEUE)
            except WorkflowFailureError as exc:
                raise steps.StepRefused(str(exc.cause)) from None

        try:
            async with worker:
                yield checkout
        finally:
            for pool in pools.values():
                await pool.close()

    serve(int(settings["port"]), lifespan)


async def completed_workflows(address: str) -> int:
    """Checkout workflows the Temporal server lists as completed."""
    client = await Client.connect(address)
    count = await client.count_workflows("WorkflowType = 'Checkout' AND "
                                         "ExecutionStatus = 'Completed'")
    return int(count.count)


if __name__ == "__main__":
    main()
