"""Errors become problem bodies; a failed call to another service is a 503/504, not a 500."""

import httpx
from fastapi import FastAPI

from msa.client import ServiceTimeout, ServiceUnavailable
from msa.problems import NotFound, install_problem_handlers


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/x")
    async def fail() -> None:
        raise exc

    return app


async def get(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/x")


async def test_an_unreachable_dependency_is_a_503_problem_with_retry_after():
    response = await get(app_raising(ServiceUnavailable("catalog", "cannot connect")))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    assert "catalog" in response.json()["detail"]


async def test_a_dependency_past_its_deadline_is_a_504_problem():
    response = await get(app_raising(ServiceTimeout("wallet", "no answer in time")))
    assert response.status_code == 504
    assert response.json()["title"] == "Gateway timeout"


async def test_a_domain_problem_keeps_its_status_and_an_unexpected_error_hides_its_details():
    assert (await get(app_raising(NotFound("no book 7")))).json()["detail"] == "no book 7"
    crash = await get(app_raising(RuntimeError("secret internals")))
    assert crash.status_code == 500
    assert "secret" not in crash.text


async def test_a_lost_database_connection_is_a_503_problem_not_a_500():
    import asyncpg
    from sqlalchemy.exc import DBAPIError

    lost = DBAPIError("SELECT 1", {}, asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"), connection_invalidated=True)
    response = await get(app_raising(lost))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "database is unreachable" in response.json()["detail"]
    refused = await get(app_raising(ConnectionRefusedError(111, "connection refused")))
    assert refused.status_code == 503


async def test_a_transaction_rolled_back_to_break_a_deadlock_is_a_503_to_try_again():
    import asyncpg
    from sqlalchemy.exc import DBAPIError

    for cause in (asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
                  asyncpg.exceptions.SerializationError("could not serialize access")):
        response = await get(app_raising(DBAPIError("UPDATE carts ...", {}, cause)))
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert "nothing was written" in response.json()["detail"]
        response = await get(app_raising(cause))
        assert response.status_code == 503, response.text
