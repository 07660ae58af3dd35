"""The checkout saga: reserve stock → debit wallet → credit ledger → confirm → commit.

Each remote step sends the key `<saga id>:<step>` and the saga id as `reference`;
the participants make an action and its compensation commute per reference, so
compensating a step whose call timed out is always safe.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from msa import (
    LocalStatement,
    RemoteProblem,
    SagaContext,
    SagaDefinition,
    SagaRefused,
    Step,
    business_counter,
    emit,
)
from orders import adapters
from orders.contracts import OrderCancelled, OrderConfirmed, OrderLine
from orders.domain import OrderStatus, cancellation_reason

CONFIRMED = business_counter("orders_confirmed", "Orders confirmed", service="orders")
REVENUE = business_counter("orders_revenue_cents", "Value of confirmed orders, in cents",
                           service="orders")
CALL_TIMEOUT = 2.0
STEP_DEADLINE = 10.0  # a participant unreachable this long: compensate


async def _call(ctx: SagaContext, service: str, path: str, body: dict[str, Any] | None = None,
                step: str = "") -> dict[str, Any]:
    try:
        response = await ctx.runtime.client(service).request(
            "POST", path, json=body or {}, idempotency_key=ctx.key, timeout=CALL_TIMEOUT,
            retries=0,
        )
    except RemoteProblem as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
            problem_type = str(exc.problem.get("type", ""))
            raise SagaRefused(cancellation_reason(step, problem_type, exc.detail)) from exc
        raise
    result: dict[str, Any] = response.json()
    return result


async def reserve_stock(ctx: SagaContext) -> dict[str, Any]:
    items = [{"book_id": line["book_id"], "quantity": line["quantity"]}
             for line in ctx.data["lines"]]
    return await _call(ctx, "inventory", "/internal/inventory/reservations",
                       {"reference": ctx.reference, "items": items}, "reserve_stock")


async def release_stock(ctx: SagaContext) -> None:
    await _call(ctx, "inventory", f"/internal/inventory/reservations/{ctx.reference}/release")


async def debit_wallet(ctx: SagaContext) -> dict[str, Any]:
    return await _call(ctx, "wallet", "/internal/wallet/debits", {
        "reference": ctx.reference, "user_id": ctx.data["user_id"],
        "amount_cents": ctx.data["total_cents"]}, "debit_wallet")


async def refund_wallet(ctx: SagaContext) -> None:
    await _call(ctx, "wallet", f"/internal/wallet/debits/{ctx.reference}/refund")


async def credit_revenue(ctx: SagaContext) -> dict[str, Any]:
    return await _call(ctx, "ledger", "/internal/ledger/sales", {
        "reference": ctx.reference, "order_id": ctx.data["order_id"],
        "user_id": ctx.data["user_id"], "amount_cents": ctx.data["total_cents"]},
        "credit_revenue")


async def reverse_revenue(ctx: SagaContext) -> None:
    await _call(ctx, "ledger", f"/internal/ledger/sales/{ctx.reference}/reverse")


async def confirm_order(ctx: SagaContext) -> dict[str, Any]:
    """The pivot: from here the order is the customer's and only goes forward."""
    assert ctx.conn is not None
    order = await adapters.set_status(ctx.conn, ctx.data["order_id"], OrderStatus.CONFIRMED)
    if order is not None:
        await emit(ctx.conn, OrderConfirmed(
            order_id=order["id"], user_id=order["user_id"], total_cents=order["total_cents"],
            lines=[OrderLine(book_id=line["book_id"], quantity=line["quantity"],
                             price_cents=line["price_cents"]) for line in ctx.data["lines"]],
        ))
    _count_confirmed(order)
    return {"status": OrderStatus.CONFIRMED}


def confirm_in_one_statement(ctx: SagaContext) -> LocalStatement:
    """`confirm_order` as one statement, written with the saga's record of it; the order's
    ids and total in the event come from the row it changed, as in `confirm_order`."""
    confirmed = OrderConfirmed(
        order_id=ctx.data["order_id"], user_id=ctx.data["user_id"],
        total_cents=ctx.data["total_cents"],
        lines=[OrderLine(book_id=line["book_id"], quantity=line["quantity"],
                         price_cents=line["price_cents"]) for line in ctx.data["lines"]])
    return LocalStatement(
        adapters.confirmation(uuid.UUID(ctx.data["order_id"]),
                              {"status": OrderStatus.CONFIRMED}, [confirmed]),
        done=_count_confirmed)


def _count_confirmed(order: dict[str, Any] | None) -> None:
    if order is not None:
        CONFIRMED.inc()
        REVENUE.inc(order["total_cents"])


async def commit_stock(ctx: SagaContext) -> dict[str, Any]:
    return await _call(ctx, "inventory",
                       f"/internal/inventory/reservations/{ctx.reference}/commit",
                       step="commit_stock")


async def cancel_order(conn: AsyncConnection, ctx: SagaContext, reason: str) -> None:
    order = await adapters.set_status(conn, ctx.data["order_id"], OrderStatus.CANCELLED, reason)
    if order is not None:
        await emit(conn, OrderCancelled(order_id=order["id"], user_id=order["user_id"],
                                        reason=reason))


CHECKOUT = SagaDefinition(
    "checkout",
    steps=(
        Step("reserve_stock", reserve_stock, release_stock, deadline=STEP_DEADLINE),
        Step("debit_wallet", debit_wallet, refund_wallet, deadline=STEP_DEADLINE),
        Step("credit_revenue", credit_revenue, reverse_revenue, deadline=STEP_DEADLINE),
        Step("confirm_order", confirm_order, local=True, usual=confirm_in_one_statement),
        Step("commit_stock", commit_stock, deadline=STEP_DEADLINE),
    ),
    on_compensated=cancel_order,
)
