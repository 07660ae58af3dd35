"""A callee stops its work once the caller's deadline has passed, and writes nothing."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from msa.deadline import DEADLINE_HEADER, DeadlineGuard, remaining


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def test_work_past_the_deadline_is_stopped_and_its_transaction_rolled_back(msa_postgres):
    engine = create_async_engine(_async_url(msa_postgres.create_database()))
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE effects (id int)"))
    seen: list[float | None] = []

    async def slow_write(request: Request) -> JSONResponse:
        seen.append(remaining())
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO effects VALUES (1)"))
            await conn.execute(sa.text("SELECT pg_sleep(2)"))  # far past the budget
        return JSONResponse({"done": True})

    app = DeadlineGuard(Starlette(routes=[Route("/work", slow_write, methods=["POST"])]))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://callee") as client:
            began = asyncio.get_running_loop().time()
            answer = await client.post("/work", headers={DEADLINE_HEADER: "200"})
            took = asyncio.get_running_loop().time() - began
        async with engine.connect() as conn:
            written = (await conn.execute(sa.text("SELECT count(*) FROM effects"))).scalar()
    finally:
        await engine.dispose()

    assert answer.status_code == 504
    assert answer.headers["content-type"] == "application/problem+json"
    assert "work was stopped" in answer.json()["detail"]
    assert seen and seen[0] is not None and 0 < seen[0] <= 0.2
    assert took < 1.5  # stopped, not waited out
    assert written == 0


async def test_work_within_the_deadline_answers_as_usual():
    async def quick(request: Request) -> JSONResponse:
        return JSONResponse({"left": remaining()})

    app = DeadlineGuard(Starlette(routes=[Route("/work", quick)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://callee") as client:
        answer = await client.get("/work", headers={DEADLINE_HEADER: "5000"})
        without = await client.get("/work")

    assert answer.status_code == 200 and 4 < answer.json()["left"] <= 5
    assert without.json() == {"left": None}
