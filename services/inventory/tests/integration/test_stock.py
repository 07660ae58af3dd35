"""Stock rows from catalog events, restocking, and reading availability."""

import asyncio
import json
import uuid

from sqlalchemy import text

from catalog.contracts import BookCreated

ADMIN = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}
CUSTOMER = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "customer"}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_book_created_in_the_catalog_gets_an_empty_stock_row(inventory):
    book_id = uuid.uuid4()
    event = BookCreated(book_id=book_id, isbn="9780000000002", title="T", author="A",
                        price_cents=999)
    event_id = str(uuid.uuid4())
    broker = inventory.app.state.runtime.broker
    await broker.publish(event.type, json.dumps(event.model_dump(mode="json")).encode(),
                         {"Nats-Msg-Id": event_id, "Msa-Event-Id": event_id,
                          "Msa-Event-Type": event.type})
    for _ in range(100):
        response = await inventory.get(f"/api/inventory/stock/{book_id}")
        if response.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert response.json() == {"book_id": str(book_id), "available": 0}
    audit = (await inventory.get("/internal/inventory/audit")).json()
    row = next(b for b in audit["books"] if b["book_id"] == str(book_id))
    assert row == {"book_id": str(book_id), "received": 0, "available": 0, "reserved": 0,
                   "sold": 0}


async def test_restocking_adds_received_and_available_copies(inventory, stocked_book):
    book_id = await stocked_book(0)
    response = await inventory.post("/api/inventory/admin/restock",
                                    json={"book_id": str(book_id), "quantity": 4},
                                    headers={**ADMIN, **_key()})
    assert response.status_code == 200
    assert response.json() == {"book_id": str(book_id), "received": 4, "available": 4,
                               "reserved": 0, "sold": 0}


async def test_a_repeated_restock_returns_the_stored_answer_and_adds_once(inventory, stocked_book):
    book_id = await stocked_book(0)
    headers = {**ADMIN, **_key()}
    body = {"book_id": str(book_id), "quantity": 3}
    first = await inventory.post("/api/inventory/admin/restock", json=body, headers=headers)
    again = await inventory.post("/api/inventory/admin/restock", json=body, headers=headers)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await inventory.post("/api/inventory/admin/restock",
                                 json={**body, "quantity": 5}, headers=headers)
    assert other.status_code == 422
    stock = await inventory.get(f"/api/inventory/stock/{book_id}")
    assert stock.json()["available"] == 3


async def test_restocking_is_for_administrators_and_needs_a_key(inventory, stocked_book):
    book_id = await stocked_book(0)
    body = {"book_id": str(book_id), "quantity": 3}
    assert (await inventory.post("/api/inventory/admin/restock", json=body,
                                 headers=_key())).status_code == 401
    assert (await inventory.post("/api/inventory/admin/restock", json=body,
                                 headers={**CUSTOMER, **_key()})).status_code == 403
    missing = await inventory.post("/api/inventory/admin/restock", json=body, headers=ADMIN)
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await inventory.get(f"/api/inventory/stock/{book_id}")).json()["available"] == 0


async def test_bad_restocks_are_refused_and_change_nothing(inventory, stocked_book, audit):
    book_id = await stocked_book(2)
    before, _ = await audit()
    for body in ({"book_id": str(book_id), "quantity": 0},
                 {"book_id": str(book_id), "quantity": -3},
                 {"book_id": str(book_id), "quantity": "many"},
                 {"book_id": "not-a-uuid", "quantity": 1},
                 {"book_id": str(book_id), "quantity": 1, "received": 100}):
        response = await inventory.post("/api/inventory/admin/restock", json=body,
                                        headers={**ADMIN, **_key()})
        assert response.status_code == 422, body
        assert response.json()["status"] == 422
    unknown = await inventory.post("/api/inventory/admin/restock",
                                   json={"book_id": str(uuid.uuid4()), "quantity": 1},
                                   headers={**ADMIN, **_key()})
    assert unknown.status_code == 404
    after, _ = await audit()
    assert after == before


async def test_availability_is_read_per_book_and_for_many_books(inventory, stocked_book):
    first, second = await stocked_book(2), await stocked_book(5)
    unknown = uuid.uuid4()
    assert (await inventory.get(f"/api/inventory/stock/{unknown}")).status_code == 404
    response = await inventory.get("/api/inventory/stock",
                                   params={"ids": [str(first), str(second), str(unknown)]})
    assert sorted(response.json(), key=lambda row: row["available"]) == [
        {"book_id": str(first), "available": 2}, {"book_id": str(second), "available": 5}]


async def test_a_change_of_available_copies_is_announced_once_per_book(inventory, stocked_book):
    book_id = await stocked_book(3)
    async with inventory.app.state.runtime.db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT payload FROM msa_outbox WHERE event_type = 'inventory.stock.changed.v1' "
            "AND payload->>'book_id' = :book ORDER BY id"), {"book": str(book_id)})).all()
    assert [row.payload for row in rows] == [{"book_id": str(book_id), "available": 3}]


async def _publish_book_created(inventory, book_id: uuid.UUID, event_id: str) -> None:
    event = BookCreated(book_id=book_id, isbn="9780000000019", title="T", author="A",
                        price_cents=999)
    # a fresh Nats-Msg-Id each time, so the broker's own dedupe does not hide a redelivery
    await inventory.app.state.runtime.broker.publish(
        event.type, json.dumps(event.model_dump(mode="json")).encode(),
        {"Nats-Msg-Id": str(uuid.uuid4()), "Msa-Event-Id": event_id,
         "Msa-Event-Type": event.type})


async def _inbox_rows(inventory, event_ids: list[str]) -> int:
    async with inventory.app.state.runtime.db.connect() as conn:
        return int((await conn.execute(
            text("SELECT count(*) FROM msa_inbox WHERE event_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": event_ids})).scalar_one())


async def test_the_audit_counts_book_events_handled_so_a_second_event_for_a_book_shows(
        inventory):
    book_id, first, second = uuid.uuid4(), str(uuid.uuid4()), str(uuid.uuid4())
    await _publish_book_created(inventory, book_id, first)
    await _publish_book_created(inventory, book_id, first)  # a redelivery: skipped by the inbox
    await _publish_book_created(inventory, book_id, second)  # a second event: its own effect
    for _ in range(100):
        if await _inbox_rows(inventory, [first, second]) == 2:
            break
        await asyncio.sleep(0.05)
    assert await _inbox_rows(inventory, [first, second]) == 2
    audit = (await inventory.get("/internal/inventory/audit")).json()
    assert [b["book_id"] for b in audit["books"]].count(str(book_id)) == 1
    handled = [h for h in audit["handled"] if h["event_type"] == BookCreated.type]
    async with inventory.app.state.runtime.db.connect() as conn:
        rows = int((await conn.execute(text(
            "SELECT count(*) FROM msa_inbox WHERE event_type = :t"), {"t": BookCreated.type}
        )).scalar_one())
    assert [h["consumer"] for h in handled] == ["inventory__catalog_book_created_v1"]
    assert handled[0]["events"] == rows
