"""Orders' use cases: cart changes and checkout."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import Awaitable
from typing import Any

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import (
    Conflict,
    NotFound,
    OneStatement,
    RemoteProblem,
    Runtime,
    Unprocessable,
    autocommit,
    emit,
    run_idempotent,
)
from orders import adapters
from orders.contracts import OrderLine, OrderPlaced
from orders.domain import (
    OrderStatus,
    PricedLine,
    cart_full,
    line_too_long,
    order_total,
)

CHECKOUT_WAIT = 5.0  # seconds a checkout request waits for its saga before answering 202


async def prices(rt: Runtime, book_ids: list[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """Current catalogue data of the books, by id, asked of catalog (for books the read
    model does not know yet: created a moment ago, their event still on its way)."""
    if not book_ids:
        return {}
    books = await rt.client("catalog").get_json(
        "/internal/catalog/books", params={"ids": [str(b) for b in book_ids]})
    return {book["id"]: book for book in books}


async def ensure_book_exists(rt: Runtime, book_id: uuid.UUID) -> None:
    """404 unless catalog has the book (asked only for a book orders does not know)."""
    try:
        await rt.client("catalog").get_json(f"/api/catalog/books/{book_id}")
    except RemoteProblem as exc:
        if exc.status == 404:
            raise NotFound(f"no book {book_id}") from None
        raise


class UnknownBooks(Exception):
    """Books the read model does not know yet: ask catalog, then try again."""

    def __init__(self, book_ids: list[uuid.UUID]) -> None:
        super().__init__(f"{len(book_ids)} book(s) not known yet")
        self.book_ids = book_ids


async def put_in_cart(rt: Runtime, request: Request, key: str, body: Any,
                      user_id: uuid.UUID, book_id: uuid.UUID, quantity: int,
                      *, add: bool) -> JSONResponse:
    """Add copies of a book to the cart (or set its quantity) once per key, and answer
    with the whole cart. The book must exist: the read model of catalog's books says
    so, or (for one it does not know yet) catalog. The usual change is one statement
    (`adapters.cart_change`); refusals and races run in a transaction holding the cart."""
    known = False

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        await adapters.hold_cart(conn, user_id)
        try:
            items = await adapters.put_in_cart(conn, user_id, book_id, quantity, add=add,
                                               known=known)
        except asyncpg.CheckViolationError as exc:
            if exc.constraint_name == adapters.CART_FULL:  # a new line past the cap
                raise Conflict(cart_full(), title="Cart full") from None
            raise Unprocessable(line_too_long()) from None
        if items is None:
            raise UnknownBooks([book_id])
        return {"items": items}

    def attempt() -> Awaitable[JSONResponse]:
        usual = adapters.cart_change(user_id, book_id, quantity, add=add, known=known)
        return run_idempotent(rt, request, key, body, work, principal=str(user_id),
                              usual=usual)

    try:
        return await attempt()
    except UnknownBooks:
        await ensure_book_exists(rt, book_id)
        known = True
        return await attempt()


async def place_order(rt: Runtime, conn: AsyncConnection, user_id: uuid.UUID,
                      fetched: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Turn the cart into a PENDING order and start its checkout saga, in one transaction.

    Prices come from the read model of catalog's books, and the order records each
    price it charges; `fetched` holds catalog's answer for books the read model did
    not know yet (None on the first try: such books raise UnknownBooks)."""
    taken = await adapters.take_cart(conn, user_id)
    if not taken:
        raise Unprocessable("your cart is empty")
    unknown = [item["book_id"] for item in taken if item["price_cents"] is None]
    if unknown and fetched is None:
        raise UnknownBooks(unknown)
    lines: list[PricedLine] = []
    for item in taken:
        book_id = str(item["book_id"])
        if item["price_cents"] is None:
            book = (fetched or {}).get(book_id)
            if book is None:
                raise Conflict("your cart changed during checkout; try again")
            item = {**item, "title": book["title"], "price_cents": book["price_cents"]}
        lines.append(PricedLine(book_id, item["title"], item["quantity"], item["price_cents"]))
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
    await rt.sagas.start(conn, "checkout", _saga_data(
        order_id, user_id, total, [line.model_dump(mode="json") for line in contract_lines],
    ), saga_id=saga_id)
    return {"id": order_id, "saga_id": saga_id, "status": OrderStatus.PENDING}


def _saga_data(order_id: uuid.UUID, user_id: uuid.UUID, total: int,
               lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What the checkout saga starts with."""
    return {"order_id": str(order_id), "user_id": str(user_id), "total_cents": total,
            "lines": lines}


def placing_in_one_statement(rt: Runtime, user_id: uuid.UUID) -> OneStatement:
    """The usual checkout as one statement (`adapters.placing`): the order, its
    OrderPlaced event, the checkout saga's start and the key with the answer, in one
    round trip. The order's total and lines, computed by the statement, fill the
    fields of the same names of the event, the saga's data and the answer."""
    assert rt.sagas is not None
    order_id, saga_id = uuid.uuid4(), uuid.uuid4()
    start = rt.sagas.start_in_statement("checkout", _saga_data(order_id, user_id, 0, []),
                                        saga_id)
    usual = adapters.placing(
        user_id, order_id, saga_id,
        {"id": order_id, "saga_id": saga_id, "status": OrderStatus.PENDING,
         "total_cents": None, "lines": None},
        [OrderPlaced(order_id=order_id, user_id=user_id, total_cents=0, lines=[])])
    return dataclasses.replace(usual, writes=[start.write], written=start.written)


async def checkout(rt: Runtime, request: Request, key: str, user_id: uuid.UUID) -> JSONResponse:
    """Place the order once per key, drive its saga, and answer with the order as it stands."""
    fetched: dict[str, dict[str, Any]] | None = None

    def place(conn: AsyncConnection) -> Awaitable[dict[str, Any]]:
        return place_order(rt, conn, user_id, fetched)

    try:
        placed = await run_idempotent(rt, request, key, None, place, status=201,
                                      principal=str(user_id),
                                      usual=placing_in_one_statement(rt, user_id))
    except UnknownBooks as unknown:
        fetched = await prices(rt, unknown.book_ids)
        placed = await run_idempotent(rt, request, key, None, place, status=201,
                                      principal=str(user_id))
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
    async with autocommit(rt.db) as conn:  # one read: no BEGIN, no ROLLBACK
        order = await adapters.order_with_steps(conn, order_id)
    if order is None or (user_id is not None and order["user_id"] != user_id):
        raise NotFound(f"no order {order_id}")
    return order


def _jsonable(value: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value)
