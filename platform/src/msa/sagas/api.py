"""Operator routes for a service's sagas: list stuck ones, retry a step, compensate now.

Mounted under `/internal/sagas` of the orchestrating service; `msa sagas` calls them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from msa.db import snapshot
from msa.problems import Conflict, NotFound
from msa.runtime import Runtime, get_runtime
from msa.sagas.engine import ACTIVE
from msa.service_guard import OperatorOnly
from msa.tables import saga, saga_step

router = APIRouter(prefix="/internal/sagas", tags=["sagas"], dependencies=[OperatorOnly])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
MAX_AGE = 100 * 365 * 24 * 3600  # seconds; PostgreSQL intervals overflow far beyond
_SUMMARY = [saga.c.id, saga.c.saga_type, saga.c.status, saga.c.step, saga.c.error,
            saga.c.owner, saga.c.fence, saga.c.attempts, saga.c.created_at, saga.c.updated_at]


@router.get("")
async def list_sagas(
    rt: RuntimeDep,
    status: Annotated[str | None, Query(pattern="^(running|compensating|completed|compensated|failed|active)$")] = None,  # noqa: E501
    older_than: Annotated[float, Query(ge=0, le=MAX_AGE, description="only sagas not updated for this many seconds")] = 0,  # noqa: E501
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    query = select(*_SUMMARY).order_by(saga.c.created_at.desc()).limit(limit)
    if status == "active":
        query = query.where(saga.c.status.in_(ACTIVE))
    elif status:
        query = query.where(saga.c.status == status)
    if older_than:
        query = query.where(saga.c.updated_at < func.now() - func.make_interval(
            0, 0, 0, 0, 0, 0, older_than))
    async with rt.db.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
        counts: dict[str, int] = dict((await conn.execute(
            select(saga.c.status, func.count()).group_by(saga.c.status))).tuples().all())
    return {"items": [dict(row) for row in rows], "counts": counts}


@router.get("/audit")
async def audit_sagas(rt: RuntimeDep) -> dict[str, Any]:
    """Counts by status, and sagas whose step history shows two drivers at once."""
    async with snapshot(rt.db) as conn:
        counts: dict[str, int] = dict((await conn.execute(
            select(saga.c.status, func.count()).group_by(saga.c.status))).tuples().all())
        overlapping = (await conn.execute(text(_OVERLAPS))).scalar_one()
    return {"counts": counts, "overlapping_drivers": overlapping}


# A step recorded under an older fence after a newer one, or one fence with two
# drivers, would mean two drivers acted at once.
_OVERLAPS = """
SELECT count(DISTINCT saga_id) FROM (
  SELECT saga_id, fence, driver,
         max(fence) OVER (PARTITION BY saga_id ORDER BY id
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen,
         count(*) OVER (PARTITION BY saga_id, fence) AS n,
         dense_rank() OVER (PARTITION BY saga_id, fence ORDER BY driver)
           + dense_rank() OVER (PARTITION BY saga_id, fence ORDER BY driver DESC) - 1 AS drivers
  FROM msa_saga_step
) s WHERE seen > fence OR drivers > 1
"""


@router.get("/{saga_id}")
async def show_saga(saga_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    async with rt.db.connect() as conn:
        return await saga_detail(conn, saga_id)


async def saga_detail(conn: AsyncConnection, saga_id: uuid.UUID) -> dict[str, Any]:
    """A saga with its step history, oldest step first."""
    row = (await conn.execute(select(*_SUMMARY, saga.c.data).where(saga.c.id == saga_id))
           ).mappings().first()
    if row is None:
        raise NotFound(f"no saga {saga_id}")
    steps = (await conn.execute(
        select(saga_step.c.step, saga_step.c.direction, saga_step.c.outcome, saga_step.c.detail,
               saga_step.c.driver, saga_step.c.fence, saga_step.c.finished_at)
        .where(saga_step.c.saga_id == saga_id).order_by(saga_step.c.id)
    )).mappings().all()
    return {**dict(row), "steps": [dict(step) for step in steps]}


@router.post("/{saga_id}/retry")
async def retry_saga(saga_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    """Drive the saga again now: an active one at once, a failed one from its failed step."""
    async with rt.db.begin() as conn:
        current = (await conn.execute(select(saga.c.status).where(saga.c.id == saga_id)
                                      .with_for_update())).scalar_one_or_none()
        if current is None:
            raise NotFound(f"no saga {saga_id}")
        if current not in (*ACTIVE, "failed"):
            raise Conflict(f"saga {saga_id} is {current}; only active or failed sagas retry")
        await conn.execute(update(saga).where(saga.c.id == saga_id).values(
            status="running" if current == "failed" else current, attempts=0,
            next_attempt_at=func.now(), lease_until=func.now(), updated_at=func.now()))
        return await saga_detail(conn, saga_id)


@router.post("/{saga_id}/compensate")
async def compensate_saga(saga_id: uuid.UUID, rt: RuntimeDep) -> dict[str, Any]:
    """Stop going forward and undo the steps done so far (refused past the pivot)."""
    engine = rt.sagas
    async with rt.db.begin() as conn:
        row = (await conn.execute(select(saga.c.status, saga.c.step, saga.c.saga_type)
                                  .where(saga.c.id == saga_id).with_for_update())).first()
        if row is None:
            raise NotFound(f"no saga {saga_id}")
        definition = engine.definitions[row.saga_type] if engine else None
        if row.status != "running" or definition is None or definition.pivot_passed(row.step):
            raise Conflict(f"saga {saga_id} ({row.status}) can no longer be compensated")
        await conn.execute(update(saga).where(saga.c.id == saga_id).values(
            status="compensating", error="compensated by an operator", attempts=0,
            fence=saga.c.fence + 1, owner=None, next_attempt_at=func.now(),
            lease_until=func.now(), updated_at=func.now()))
        return await saga_detail(conn, saga_id)
