"""The tests a new service starts with: unit tests of its domain, integration tests of
its API on the real PostgreSQL and NATS of the test session (`msa.tools.testing` fixtures)."""

from __future__ import annotations

from msa.tools.scaffold.blueprint import Blueprint


def unit(bp: Blueprint) -> str:
    if not bp.database:
        return f'''"""{bp.title}'s routes, in process (no database, no broker needed)."""

from {bp.name}.api import hello


async def test_hello_names_the_service() -> None:
    assert await hello() == {{"service": "{bp.name}", "message": "hello"}}
'''
    return f'''"""{bp.title}'s domain rules, without a database."""

import pytest

from {bp.name}.domain import MAX_NAME_LENGTH, InvalidName, new_item


def test_a_new_item_keeps_its_name_without_surrounding_spaces() -> None:
    assert new_item("  first  ").name == "first"


def test_two_new_items_have_different_ids() -> None:
    assert new_item("a").id != new_item("a").id


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME_LENGTH + 1)])
def test_a_blank_or_too_long_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        new_item(name)
'''


def integration(bp: Blueprint) -> str:
    if not bp.database:
        return f'''"""{bp.title} served in process, answering as it does behind the gateway."""

from collections.abc import AsyncIterator

import httpx
import pytest

from msa.tools.apptest import serve_in_process


@pytest.fixture(scope="module")
async def {bp.name}(msa_nats: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process("{bp.name}", nats_url=msa_nats) as http:
        yield http


async def test_hello_answers({bp.name}: httpx.AsyncClient) -> None:
    response = await {bp.name}.get("/api/{bp.name}/hello")
    assert response.status_code == 200
    assert response.json() == {{"service": "{bp.name}", "message": "hello"}}


async def test_it_is_ready({bp.name}: httpx.AsyncClient) -> None:
    assert (await {bp.name}.get("/readyz")).status_code == 200
'''
    published = _published(bp) if bp.publishes else ""
    extra_imports = "import asyncio\nimport json\n" if bp.publishes else ""
    broker = "from msa.messaging import Broker\n" if bp.publishes else ""
    return f'''"""{bp.title}'s API on a real PostgreSQL and NATS."""

{extra_imports}import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

{broker}from msa.tools.apptest import serve_in_process
from msa.tools.testing import PostgresForTests


@pytest.fixture(scope="module")
async def {bp.name}(msa_postgres: PostgresForTests,
{" " * (len(bp.name) + 17)}msa_nats: str) -> AsyncIterator[httpx.AsyncClient]:
    url = msa_postgres.create_database()
    async with serve_in_process("{bp.name}", database_url=url, nats_url=msa_nats) as http:
        yield http


def key() -> dict[str, str]:
    return {{"Idempotency-Key": str(uuid.uuid4())}}


async def test_an_item_made_can_be_read_back({bp.name}: httpx.AsyncClient) -> None:
    made = await {bp.name}.post("/api/{bp.name}/items", json={{"name": " first "}}, headers=key())
    assert made.status_code == 201, made.text
    read = await {bp.name}.get(f"/api/{bp.name}/items/{{made.json()['id']}}")
    assert read.status_code == 200
    assert read.json() == {{"id": made.json()["id"], "name": "first"}}


async def test_the_same_key_replays_the_first_answer({bp.name}: httpx.AsyncClient) -> None:
    headers = key()
    first = await {bp.name}.post("/api/{bp.name}/items", json={{"name": "once"}}, headers=headers)
    again = await {bp.name}.post("/api/{bp.name}/items", json={{"name": "once"}}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"


async def test_a_change_without_a_key_is_refused({bp.name}: httpx.AsyncClient) -> None:
    response = await {bp.name}.post("/api/{bp.name}/items", json={{"name": "x"}})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_blank_name_is_refused_with_a_problem({bp.name}: httpx.AsyncClient) -> None:
    response = await {bp.name}.post("/api/{bp.name}/items", json={{"name": "   "}}, headers=key())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_unknown_item_is_a_404_problem({bp.name}: httpx.AsyncClient) -> None:
    response = await {bp.name}.get(f"/api/{bp.name}/items/{{uuid.uuid4()}}")
    assert response.status_code == 404
    assert response.json()["status"] == 404
{published}'''


def _published(bp: Blueprint) -> str:
    event = bp.publishes[0]
    return f'''

async def test_a_new_item_is_published_through_the_outbox({bp.name}: httpx.AsyncClient,
{" " * 58}msa_nats: str) -> None:
    broker = Broker(msa_nats, "{bp.name}-test-reader")
    await broker.connect()
    try:
        messages = await broker.js.subscribe("{event}", ordered_consumer=True)
        made = await {bp.name}.post("/api/{bp.name}/items", json={{"name": "sent"}},
{" " * (len(bp.name) + 27)}headers=key())
        async with asyncio.timeout(20):
            while True:
                message = await messages.next_msg(timeout=20)
                if json.loads(message.data)["id"] == made.json()["id"]:
                    break
        assert json.loads(message.data)["name"] == "sent"
    finally:
        await broker.close()
'''
