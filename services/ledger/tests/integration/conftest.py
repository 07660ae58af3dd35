"""Ledger in-process on its own fresh database per test module (real PostgreSQL)."""

import pytest

from msa.tools.apptest import serve_in_process


@pytest.fixture(scope="module")
async def ledger(msa_postgres, msa_nats):
    url = msa_postgres.create_database()
    async with serve_in_process("ledger", database_url=url, nats_url=msa_nats) as http:
        yield http
