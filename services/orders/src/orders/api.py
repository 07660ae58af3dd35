"""Orders' HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from msa import (
    CurrentUser,
    Forbidden,
    IdempotencyKey,
    NotFound,
    Runtime,
    get_runtime,
    run_idempotent,
    snapshot,
)
from orders import adapters, handlers
from orders.domain import MAX_QUANTITY

router = APIRouter(prefix="/api/orders", tags=["orders"])
internal = APIRouter(prefix="/internal/orders", tags=["internal"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class CartItem(BaseModel):
    book_id: uuid.UUID
    quantity: int


class Cart(BaseModel):
    items: list[CartItem]


class AddItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    book_id: uuid.UUID
    quantity: int = Field(default=1, gt=0, le=MAX_QUANTITY)


class SetQuantity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


class OrderSummary(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    status: str
    total_cents: int
    reason: str | None
    created_at: Any


@router.get("/cart", response_model=Cart)
async def get_cart(rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        return {"items": await adapters.cart(conn, user.user_id)}


@router.post("/cart/items", response_model=Cart)
async def add_item(body: AddItem, request: Request, key: IdempotencyKey, rt: RuntimeDep,
                   user: CurrentUser) -> JSONResponse:
    return await handlers.put_in_cart(rt, request, key, body, user.user_id, body.book_id,
                                      body.quantity, add=True)


@router.put("/cart/items/{book_id}", response_model=Cart)
async def set_item(book_id: uuid.UUID, body: SetQuantity, request: Request, rt: RuntimeDep,
                   user: CurrentUser, key: IdempotencyKey) -> JSONResponse:
    return await handlers.put_in_cart(rt, request, key, body, user.user_id, book_id,
                                      body.quantity, add=False)


@router.delete("/cart/items/{book_id}", status_code=204, response_class=Response)
async def remove_item(book_id: uuid.UUID, request: Request, rt: RuntimeDep, user: CurrentUser,
                      key: IdempotencyKey) -> Response:
    async def work(conn: Any) -> None:
        if not await adapters.remove_from_cart(conn, user.user_id, book_id):
            raise NotFound(f"book {book_id} is not in your cart")

    return await run_idempotent(rt, request, key, None, work, status=204,
                                principal=str(user.user_id))


@router.post("/checkout", status_code=201,
             responses={202: {"description": "the order is placed; its saga is still running"}})
async def checkout(request: Request, key: IdempotencyKey, rt: RuntimeDep,
                   user: CurrentUser) -> JSONResponse:
    return await handlers.checkout(rt, request, key, user.user_id)


@router.get("", response_model=list[OrderSummary])
async def list_orders(
    rt: RuntimeDep, user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    everyone: Annotated[bool, Query(alias="all", description="every customer's orders "
                                    "(administrators only)")] = False,
) -> list[dict[str, Any]]:
    if everyone and not user.is_admin:
        raise Forbidden("only administrators may list every customer's orders")
    async with rt.db.connect() as conn:
        return await adapters.list_orders(conn, None if everyone else user.user_id, limit,
                                          offset)


@router.get("/{order_id}")
async def get_order(order_id: uuid.UUID, rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    return await handlers.order_view(rt, order_id, None if user.is_admin else user.user_id)


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    async with snapshot(rt.db) as conn:
        return {"orders": await adapters.audit(conn),
                "miscounted_carts": await adapters.miscounted_carts(conn)}
