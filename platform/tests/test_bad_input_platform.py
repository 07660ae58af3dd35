"""Input PostgreSQL cannot store, and writes a database rule refuses, are 4xx problems.

The database refusals come from a real PostgreSQL, through SQLAlchemy and asyncpg,
as a service's route would meet them; the text check runs in front of every route.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from pydantic import BaseModel

from msa.db import create_engine
from msa.problems import install_problem_handlers
from msa.storable_text import StorableText, unstorable


class Shelf(BaseModel):
    name: str
    books: int
    tags: list[str] = []


def shelf_app(engine: Any) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(StorableText)

    @app.post("/shelves")
    async def add(shelf: Shelf) -> dict[str, str]:
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO shelves VALUES (:name, :books)"),
                               {"name": shelf.name, "books": shelf.books})
            await conn.execute(sa.text("INSERT INTO labels VALUES (:name, 'x')"),
                               {"name": shelf.name})
        return {"name": shelf.name}

    @app.get("/shelves/{name}")
    async def find(name: str, request: Request) -> dict[str, Any]:
        async with engine.connect() as conn:
            found = (await conn.execute(sa.text("SELECT books FROM shelves WHERE name = :n"),
                                        {"n": request.query_params.get("q", name)})).first()
        return {"books": found[0] if found else None}

    return app


@pytest.fixture
async def shelves(msa_postgres):
    engine = create_engine(msa_postgres.create_database(), pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE shelves (name text PRIMARY KEY, "
                                   "books int NOT NULL CHECK (books BETWEEN 0 AND 100))"))
        await conn.execute(sa.text("CREATE TABLE labels (shelf text REFERENCES shelves, "
                                   "label text)"))
    transport = httpx.ASGITransport(app=shelf_app(engine), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, engine
    await engine.dispose()


async def rows(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM shelves) + (SELECT count(*) FROM labels)"))).scalar())


async def test_a_check_or_unique_violation_is_a_4xx_problem_and_writes_nothing(shelves):
    client, engine = shelves
    assert (await client.post("/shelves", json={"name": "a", "books": 3})).status_code == 200
    over = await client.post("/shelves", json={"name": "b", "books": 101})
    assert over.status_code == 422, over.text
    assert over.headers["content-type"].startswith("application/problem+json")
    assert "check" in over.json()["detail"] and "101" not in over.text
    again = await client.post("/shelves", json={"name": "a", "books": 4})
    assert again.status_code == 409, again.text
    assert "shelves_pkey" in again.json()["detail"]
    assert await rows(engine) == 2  # the first shelf and its label, nothing of the refused


@pytest.mark.parametrize(("request_args", "field"), [
    ({"method": "POST", "url": "/shelves",
      "content": b'{"name": "a\\u0000b", "books": 1}'}, ["body", "name"]),
    ({"method": "POST", "url": "/shelves",
      "content": b'{"name": "ok", "books": 1, "tags": ["x", "\\ud800"]}'}, ["body", "tags", "1"]),
    ({"method": "GET", "url": "/shelves/a?q=x%00y"}, ["query", "q"]),
    ({"method": "GET", "url": "/shelves/a%00b"}, ["path"]),
])
async def test_a_nul_or_lone_surrogate_is_a_422_problem_naming_the_field(shelves, request_args,
                                                                          field):
    client, engine = shelves
    response = await client.request(**request_args,
                                    headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"] == field
    assert await rows(engine) == 0


async def test_text_that_postgresql_can_store_passes_untouched(shelves):
    client, _ = shelves
    body = {"name": "Ölçü 한국 😀 \\u0000", "books": 1, "tags": ["\u00e9"]}
    added = await client.post("/shelves", json=body)  # json= escapes the emoji as a pair
    assert added.status_code == 200, added.text
    assert added.json()["name"] == body["name"]
    assert (await client.get("/shelves/x", params={"q": body["name"]})).json() == {"books": 1}
    assert not unstorable(body["name"]) and unstorable("a\x00") and unstorable("\ud800")
