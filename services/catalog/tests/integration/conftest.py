"""Catalog in-process on its own fresh database per test module (real PostgreSQL, NATS)."""

import uuid

import pytest
from sqlalchemy import select

from msa.tables import outbox
from msa.tools.apptest import serve_in_process


@pytest.fixture(scope="module")
async def catalog(msa_postgres, msa_nats):
    url = msa_postgres.create_database()
    async with serve_in_process("catalog", database_url=url, nats_url=msa_nats) as http:
        http.database_url = url
        yield http


@pytest.fixture
def admin():
    """Headers of an administrator (as the gateway forwards them), with a new key."""
    return {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin",
            "Idempotency-Key": str(uuid.uuid4())}


class Outbox:
    """What catalog wrote to its outbox: the events it will publish."""

    def __init__(self, http):
        self.http = http

    async def last_id(self) -> int:
        return (await self.http.get("/internal/outbox")).json()["last_id"]

    async def after(self, last_id: int) -> list[dict]:
        """The events written after row `last_id`, oldest first, as `{type, **payload}`."""
        async with self.http.app.state.runtime.db.connect() as conn:
            rows = await conn.execute(select(outbox.c.event_type, outbox.c.payload)
                                      .where(outbox.c.id > last_id).order_by(outbox.c.id))
            return [{"type": row.event_type, **row.payload} for row in rows]


@pytest.fixture
def events(catalog):
    return Outbox(catalog)
