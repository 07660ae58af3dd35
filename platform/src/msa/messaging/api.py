"""Operator routes for a publishing service's outbox: how far behind, and re-drive a range.

The outbox, not the broker, is the source of truth: if the broker lost messages,
`POST /internal/outbox/republish` marks a range unpublished and the relay sends it
again (consumers skip what they already handled through their inbox).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from msa.messaging.outbox import outbox_lag, republish
from msa.runtime import Runtime, get_runtime
from msa.service_guard import OperatorOnly
from msa.tables import outbox

router = APIRouter(prefix="/internal/outbox", tags=["outbox"], dependencies=[OperatorOnly])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_id: int = Field(ge=1)
    last_id: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.last_id < self.first_id:
            raise ValueError("last_id is before first_id")
        return self


@router.get("")
async def outbox_status(rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        unpublished, age = await outbox_lag(conn)
        last = (await conn.execute(select(func.max(outbox.c.id)))).scalar()
    return {"unpublished": unpublished, "oldest_unpublished_seconds": round(age, 3),
            "last_id": last or 0}


@router.post("/republish")
async def republish_range(body: Range, rt: RuntimeDep) -> dict[str, int]:
    async with rt.db.begin() as conn:
        marked = await republish(conn, body.first_id, body.last_id)
    return {"marked": marked}
