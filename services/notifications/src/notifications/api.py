"""Notifications' HTTP routes: thin, they parse and call handlers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from msa import CurrentUser, IdempotencyKey, Runtime, get_runtime, run_idempotent, snapshot
from notifications import adapters, handlers

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
internal = APIRouter(prefix="/internal/notifications", tags=["internal"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Message(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    kind: str
    text: str
    created_at: datetime
    read: bool


class Inbox(BaseModel):
    items: list[Message]
    unread: int


@router.get("", response_model=Inbox)
async def my_messages(
    user: CurrentUser,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    unread: Annotated[bool, Query(description="only messages not read yet")] = False,
) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        items = await adapters.list_messages(conn, user.user_id, unread_only=unread,
                                             limit=limit, offset=offset)
        return {"items": items, "unread": await adapters.count_unread(conn, user.user_id)}


@router.post("/{message_id}/read", response_model=Message)
async def mark_read(message_id: uuid.UUID, request: Request, user: CurrentUser,
                    key: IdempotencyKey, rt: RuntimeDep) -> JSONResponse:
    return await run_idempotent(rt, request, key, None,
                                lambda conn: handlers.mark_read(conn, message_id, user.user_id),
                                principal=str(user.user_id))


@internal.get("/audit")
async def audit(rt: RuntimeDep) -> dict[str, Any]:
    """Messages per source event: the checker expects exactly one each."""
    async with snapshot(rt.db) as conn:
        events = await adapters.messages_per_event(conn)
    return {"messages": sum(e["count"] for e in events), "events": events}
