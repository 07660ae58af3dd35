"""The whole bookstore, started once per test session in each mode of running."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bookstore.seed import seed
from msa.checks import SystemAccess
from tests.shop import TEST_ENV, Bookstore

MODES = ["process", "monolith"]


@pytest.fixture(scope="session", params=MODES)
async def bookstore(request: pytest.FixtureRequest, msa_system_factory) -> AsyncIterator[Bookstore]:
    """A seeded bookstore; tests using it run once in process mode and once as a monolith."""
    runner = msa_system_factory(request.param, env_overrides=TEST_ENV)
    access = SystemAccess(runner.addresses, data_dir=runner.data_dir)  # signs as the operator
    try:
        async with httpx.AsyncClient(base_url=runner.gateway_url, timeout=30) as http:
            await seed(access)
            yield Bookstore(runner, http, access)
    finally:
        await access.aclose()
