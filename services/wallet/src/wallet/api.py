"""Wallet's HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from msa import CurrentUser, IdempotencyKey, Runtime, get_runtime, run_idempotent, snapshot
from wallet import adapters, handlers
from wallet.contracts import Debit, DebitRequest, Refund

router = APIRouter(prefix="/api/wallet", tags=["wallet"])
internal = APIRouter(prefix="/internal/wallet", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_cents: int = Field(gt=0, le=1_000_000)


class TopUpDone(BaseModel):
    transaction_id: uuid.UUID
    balance_cents: int


class Balance(BaseModel):
    user_id: uuid.UUID
    balance_cents: int


class Transaction(BaseModel):
    transaction_id: uuid.UUID
    kind: str
    amount_cents: int
    reference: uuid.UUID | None
    created_at: datetime


@router.post("/topups", status_code=201, response_model=TopUpDone)
async def top_up(body: TopUp, request: Request, key: IdempotencyKey, rt: RuntimeDep,
                 user: CurrentUser) -> JSONResponse:
    # The key is scoped to the user: two customers may pick the same key.
    return await run_idempotent(
        rt, request, key, body,
        lambda conn: handlers.top_up(conn, user.user_id, body.amount_cents),
        status=201, principal=str(user.user_id))


@router.get("", response_model=Balance)
async def balance(rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        return {"user_id": user.user_id,
                "balance_cents": await adapters.balance_of(conn, user.user_id)}


@router.get("/transactions", response_model=list[Transaction])
async def transactions(rt: RuntimeDep, user: CurrentUser,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Any]:
    async with rt.db.connect() as conn:
        return await adapters.history(conn, user.user_id, limit)


@internal.post("/debits", status_code=201, response_model=Debit)
async def debit(body: DebitRequest, request: Request, key: IdempotencyKey,
                rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, body,
                                lambda conn: handlers.debit(conn, body), status=201,
                                usual=handlers.first_debit(body))


@internal.post("/debits/{reference}/refund", response_model=Refund)
async def refund(reference: uuid.UUID, request: Request, key: IdempotencyKey,
                 rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, None,
                                lambda conn: handlers.refund(conn, reference))


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    async with snapshot(rt.db) as conn:
        return await adapters.audit(conn)
