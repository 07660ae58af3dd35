"""Ledger's HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledger import handlers
from ledger.contracts import Reversal, Sale, SaleRequest
from msa import AdminUser, IdempotencyKey, Runtime, get_runtime, run_idempotent, snapshot

router = APIRouter(prefix="/api/ledger", tags=["ledger"])
internal = APIRouter(prefix="/internal/ledger", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Summary(BaseModel):
    revenue_cents: int
    entries: int


@router.get("/summary", response_model=Summary)
async def summary(rt: RuntimeDep, user: AdminUser) -> dict[str, int]:
    async with rt.db.connect() as conn:
        return await handlers.summary(conn)


@internal.post("/sales", status_code=201, response_model=Sale)
async def record_sale(body: SaleRequest, request: Request, key: IdempotencyKey,
                      rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, body,
                                lambda conn: handlers.record_sale(conn, body), status=201,
                                usual=handlers.first_sale(body))


@internal.post("/sales/{reference}/reverse", response_model=Reversal)
async def reverse_sale(reference: uuid.UUID, request: Request, key: IdempotencyKey,
                       rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, None,
                                lambda conn: handlers.reverse_sale(conn, reference))


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    async with snapshot(rt.db) as conn:
        return await handlers.audit(conn)
