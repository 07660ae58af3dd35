"""Sign-in under abuse, on real PostgreSQL at the production work factor: hashes past the
bound are answered 429 at once, never queued into a timeout."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from msa.tools.apptest import serve_in_process
from msa.tools.testing import PostgresForTests

PASSWORD = "correct horse 7"


@pytest.fixture
async def identity(msa_postgres: PostgresForTests, msa_nats: str, tmp_path,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("IDENTITY_HASH_SLOTS", "1")
    monkeypatch.delenv("IDENTITY_SCRYPT_LOG2N", raising=False)  # ~0.3 s a hash
    async with serve_in_process("identity", database_url=msa_postgres.create_database(),
                                nats_url=msa_nats, data_dir=str(tmp_path)) as http:
        yield http


async def test_logins_past_the_hash_slots_get_429_with_retry_after_and_none_fail(identity):
    email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    created = await identity.post("/api/identity/register",
                                  json={"email": email, "password": PASSWORD},
                                  headers={"Idempotency-Key": uuid.uuid4().hex})
    assert created.status_code == 201, created.text
    answers = await asyncio.gather(*(
        identity.post("/api/identity/login", json={"email": email, "password": PASSWORD})
        for _ in range(6)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 200 and set(statuses) == {200, 429}, statuses
    for answer in answers:
        if answer.status_code == 429:
            assert answer.headers["retry-after"] == "1"
            assert answer.headers["content-type"].startswith("application/problem+json")
