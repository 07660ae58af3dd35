"""Inventory in-process on its own fresh database and NATS per test module (real PostgreSQL
and NATS)."""

import uuid

import pytest

from inventory import handlers
from msa.tools.apptest import serve_in_process
from msa.tools.runner.nats import NatsServer
from msa.tools.runner.ports import free_port

ADMIN = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory):
    """A NATS server of this module's own: catalog events that other tests publish on
    the session's broker would otherwise reach this inventory and change its stock."""
    server = NatsServer(tmp_path_factory.mktemp("inventory-nats"), port=free_port(),
                        monitor_port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def inventory(msa_postgres, own_nats):
    url = msa_postgres.create_database()
    async with serve_in_process("inventory", database_url=url, nats_url=own_nats) as http:
        yield http
        # nats-py's drain waits its full 30 s for a pull subscription that has had a fetch
        # time out (its queue counts unfinished tasks); see the report: a platform fix.
        http.app.state.runtime.broker.nc.options["drain_timeout"] = 1


@pytest.fixture
def stocked_book(inventory):
    """A function that makes a new book with `copies` received (the catalog event's effect
    is applied directly, so tests do not wait on the broker)."""

    async def make(copies: int) -> uuid.UUID:
        book_id = uuid.uuid4()
        async with inventory.app.state.runtime.db.begin() as conn:
            await handlers.add_book(conn, book_id)
        if copies:
            response = await inventory.post(
                "/api/inventory/admin/restock", json={"book_id": str(book_id), "quantity": copies},
                headers={**ADMIN, "Idempotency-Key": str(uuid.uuid4())})
            assert response.status_code == 200, response.text
        return book_id

    return make


@pytest.fixture
def audit(inventory):
    """A function returning the audit view: (books by id, reservations by reference)."""

    async def read() -> tuple[dict, dict]:
        body = (await inventory.get("/internal/inventory/audit")).json()
        return ({b["book_id"]: b for b in body["books"]},
                {r["reference"]: r for r in body["reservations"]})

    return read
