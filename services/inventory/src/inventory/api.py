"""Inventory's HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from inventory import adapters, handlers
from inventory.contracts import Reservation, ReservationOutcome, ReserveStock
from msa import (
    OPERATOR,
    AdminUser,
    IdempotencyKey,
    NotFound,
    OperatorOnly,
    Runtime,
    get_runtime,
    run_idempotent,
    snapshot,
)

router = APIRouter(prefix="/api/inventory", tags=["inventory"])
admin = APIRouter(prefix="/api/inventory/admin", tags=["inventory admin"])
internal = APIRouter(prefix="/internal/inventory", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Availability(BaseModel):
    book_id: uuid.UUID
    available: int


class StockLevel(Availability):
    received: int
    reserved: int
    sold: int


class Restock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    book_id: uuid.UUID
    quantity: int = Field(gt=0, le=100_000)


@router.get("/stock", response_model=list[Availability])
async def availability_of(rt: RuntimeDep,
                          ids: Annotated[list[uuid.UUID], Query(max_length=200)]) -> list[Any]:
    async with rt.db.connect() as conn:
        return await adapters.available_of(conn, ids)


@router.get("/stock/{book_id}", response_model=Availability)
async def availability(book_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        level = await adapters.get_stock(conn, book_id)
    if level is None:
        raise NotFound(f"no stock for book {book_id}")
    return level


async def _restock(rt: Runtime, request: Request, key: str, body: Restock,
                   principal: str) -> JSONResponse:
    return await run_idempotent(
        rt, request, key, body,
        lambda conn: handlers.restock(conn, body.book_id, body.quantity), principal=principal)


@admin.post("/restock", response_model=StockLevel)
async def restock(body: Restock, request: Request, key: IdempotencyKey, rt: RuntimeDep,
                  user: AdminUser) -> JSONResponse:
    return await _restock(rt, request, key, body, str(user.user_id))


@internal.post("/restock", response_model=StockLevel, dependencies=[OperatorOnly])
async def restock_as_operator(body: Restock, request: Request, key: IdempotencyKey,
                              rt: RuntimeDep) -> JSONResponse:
    """The seed's way in: operators stock books without posing as a user."""
    return await _restock(rt, request, key, body, OPERATOR)


@internal.post("/reservations", status_code=201, response_model=Reservation)
async def reserve(body: ReserveStock, request: Request, key: IdempotencyKey,
                  rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, body,
                                lambda conn: handlers.reserve(conn, body), status=201,
                                usual=handlers.first_reservation(body))


@internal.post("/reservations/{reference}/release", response_model=ReservationOutcome)
async def release(reference: uuid.UUID, request: Request, key: IdempotencyKey,
                  rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, None,
                                lambda conn: handlers.release(conn, reference))


@internal.post("/reservations/{reference}/commit", response_model=ReservationOutcome)
async def commit(reference: uuid.UUID, request: Request, key: IdempotencyKey,
                 rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, None,
                                lambda conn: handlers.commit(conn, reference),
                                usual=handlers.first_commit(reference))


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    async with snapshot(rt.db) as conn:
        return await adapters.audit(conn)
