"""Wallet in-process on its own fresh database per test module (real PostgreSQL, NATS)."""

import uuid

import pytest

from msa.tools.apptest import serve_in_process


@pytest.fixture(scope="module")
async def wallet(msa_postgres, msa_nats):
    url = msa_postgres.create_database()
    async with serve_in_process("wallet", database_url=url, nats_url=msa_nats) as http:
        yield http


@pytest.fixture
def customer(wallet):
    """A function making a new customer with `cents` topped up; returns their headers."""

    async def make(cents: int = 0) -> dict[str, str]:
        headers = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "customer"}
        if cents:
            response = await wallet.post("/api/wallet/topups", json={"amount_cents": cents},
                                         headers={**headers, "Idempotency-Key": "first"})
            assert response.status_code == 201, response.text
        return headers

    return make
