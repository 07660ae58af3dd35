"""Orders' use cases: cart changes and checkout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from msa.client import RemoteProblem
from msa.idempotency import run_idempotent
from msa.messaging import emit
from msa.problems import Conflict, NotFound, Unprocessable
from msa.sagas.api import saga_detail
from msa.service import Runtime
from orders import adapters
from orders.contracts import OrderLine, OrderPlaced
from orders.domain import OrderStatus, PricedLine, order_total

CHECKOUT_WAIT = 5.0  # seconds a checkout request waits for its saga before answering 202


async def prices(rt: Runtime, book_ids: list[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """Current catalogue data of the books, by id."""
    if not book_ids:
        return {}
    books = await rt.client("catalog").get_json(
        "/internal/catalog/books", params={"ids": [str(b) for b in book_ids]})
    return {book["id"]: book for book in books}


async def ensure_book_exists(rt: Runtime, book_id: uuid.UUID) -> None:
    try:
        await rt.client("catalog").get_json(f"/api/catalog/books/{book_id}")
    except RemoteProblem as exc:
        if exc.status == 404:
            raise NotFound(f"no book {book_id}") from None
        raise


async def place_order(rt: Runtime, conn: AsyncConnection, user_id: uuid.UUID,
                      books: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Turn the cart into a PENDING order and start its checkout saga, in one transaction."""
    taken = await adapters.take_cart(conn, user_id)
    if not taken:
        raise Unprocessable("your cart is empty")
    lines: list[PricedLine] = []
    for item in taken:
        book = books.get(str(item["book_id"]))
        if book is None:
            raise Conflict("your cart changed during checkout; try again")
        lines.append(PricedLine(str(item["book_id"]), book["title"], item["quantity"],
                                book["price_cents"]))
    order_id, saga_id = uuid.uuid4(), uuid.uuid4()
    total = order_total(lines)
    await adapters.insert_order(
        conn,
        {"id": order_id, "user_id": user_id, "status": OrderStatus.PENDING,
         "total_cents": total, "saga_id": saga_id},
        [{"book_id": uuid.UUID(line.book_id), "title": line.title, "quantity": line.quantity,
          "price_cents": line.price_cents} for line in lines],
    )
    contract_lines = [OrderLine(book_id=uuid.UUID(line.book_id), quantity=line.quantity,
                                price_cents=line.price_cents) for line in lines]
    await emit(conn, OrderPlaced(order_id=order_id, user_id=user_id, total_cents=total,
                                 lines=contract_lines))
    assert rt.sagas is not None
    await rt.sagas.start(conn, "checkout", {
        "order_id": str(order_id), "user_id": str(user_id), "total_cents": total,
        "lines": [line.model_dump(mode="json") for line in contract_lines],
    }, saga_id=saga_id)
    return {"id": order_id, "saga_id": saga_id, "status": OrderStatus.PENDING}


async def checkout(rt: Runtime, request: Request, key: str, user_id: uuid.UUID) -> JSONResponse:
    """Place the order once per key, drive its saga, and answer with the order as it stands."""
    async with rt.db.connect() as conn:
        items = await adapters.cart(conn, user_id)
    books = await prices(rt, [item["book_id"] for item in items])
    placed = await run_idempotent(
        rt, request, key, None, lambda conn: place_order(rt, conn, user_id, books),
        status=201, principal=str(user_id))
    if placed.status_code >= 400:
        return placed
    body = json.loads(bytes(placed.body))
    replayed = "idempotent-replayed" in placed.headers
    if not replayed:
        assert rt.sagas is not None
        task = rt.sagas.run(uuid.UUID(body["saga_id"]))
        with contextlib.suppress(TimeoutError):  # still running: 202, the client polls
            async with asyncio.timeout(CHECKOUT_WAIT):
                await asyncio.shield(task)
    order = await order_view(rt, uuid.UUID(body["id"]), user_id)
    status = 202 if order["status"] == OrderStatus.PENDING else 201
    headers = {"Location": f"/api/orders/{order['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(_jsonable(order), status_code=status, headers=headers)


async def order_view(rt: Runtime, order_id: uuid.UUID,
                     user_id: uuid.UUID | None) -> dict[str, Any]:
    """The order with its lines and its saga's step history; 404 for someone else's."""
    async with rt.db.connect() as conn:
        order = await adapters.get_order(conn, order_id)
        if order is None or (user_id is not None and order["user_id"] != user_id):
            raise NotFound(f"no order {order_id}")
        saga = await saga_detail(conn, order["saga_id"])
    order["steps"] = [
        {"step": s["step"], "direction": s["direction"], "outcome": s["outcome"],
         "detail": s["detail"], "at": s["finished_at"]}
        for s in saga["steps"]
    ]
    return order


def _jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)
