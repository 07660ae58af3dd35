"""Reservations: all-or-nothing holds that commute with their release, and expire."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

RESERVATIONS = "/internal/inventory/reservations"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _reserve(inventory, reference, items, **extra):
    body = {"reference": str(reference),
            "items": [{"book_id": str(book), "quantity": quantity} for book, quantity in items],
            **extra}
    return await inventory.post(RESERVATIONS, json=body, headers=_key())


async def _release(inventory, reference, headers=None):
    return await inventory.post(f"{RESERVATIONS}/{reference}/release",
                                headers=headers or _key())


async def _commit(inventory, reference):
    return await inventory.post(f"{RESERVATIONS}/{reference}/commit", headers=_key())


def _counts(book):
    return book["available"], book["reserved"], book["sold"]


async def test_a_reservation_holds_every_item(inventory, stocked_book, audit):
    first, second = await stocked_book(5), await stocked_book(2)
    reference = uuid.uuid4()
    response = await _reserve(inventory, reference, [(first, 2), (second, 2)])
    assert response.status_code == 201
    assert response.json()["status"] == "reserved"
    assert response.json()["expires_at"]
    books, held = await audit()
    assert _counts(books[str(first)]) == (3, 2, 0)
    assert _counts(books[str(second)]) == (0, 2, 0)
    assert held[str(reference)]["status"] == "reserved"
    assert sorted(i["quantity"] for i in held[str(reference)]["items"]) == [2, 2]


async def test_a_reservation_with_one_short_item_holds_nothing(inventory, stocked_book, audit):
    plenty, scarce = await stocked_book(5), await stocked_book(1)
    reference = uuid.uuid4()
    response = await _reserve(inventory, reference, [(plenty, 1), (scarce, 2)])
    assert response.status_code == 409
    assert response.json()["type"] == "urn:bookstore:out-of-stock"
    assert response.json()["book_ids"] == [str(scarce)]
    books, held = await audit()
    assert _counts(books[str(plenty)]) == (5, 0, 0)
    assert _counts(books[str(scarce)]) == (1, 0, 0)
    assert str(reference) not in held


async def test_a_one_book_reservation_announces_the_copies_it_left(
        inventory, stocked_book, audit):
    book, reference = await stocked_book(4), uuid.uuid4()
    response = await _reserve(inventory, reference, [(book, 3)])
    assert response.status_code == 201
    assert response.json()["status"] == "reserved" and response.json()["expires_at"]
    assert _counts((await audit())[0][str(book)]) == (1, 3, 0)
    async with inventory.app.state.runtime.db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT payload FROM msa_outbox WHERE event_type = 'inventory.stock.changed.v1' "
            "AND payload->>'book_id' = :book ORDER BY id"), {"book": str(book)})).all()
    assert [row.payload["available"] for row in rows] == [4, 1]


async def test_a_short_one_book_reservation_holds_nothing(inventory, stocked_book, audit):
    book, reference = await stocked_book(2), uuid.uuid4()
    response = await _reserve(inventory, reference, [(book, 3)])
    assert response.status_code == 409
    assert response.json()["book_ids"] == [str(book)]
    books, held = await audit()
    assert _counts(books[str(book)]) == (2, 0, 0)
    assert str(reference) not in held


async def test_a_reservation_of_an_unknown_book_is_not_found(inventory, stocked_book, audit):
    reference = uuid.uuid4()
    response = await _reserve(inventory, reference, [(await stocked_book(3), 1),
                                                     (uuid.uuid4(), 1)])
    assert response.status_code == 404
    assert str(reference) not in (await audit())[1]


async def test_bad_reservations_are_refused_and_write_nothing(inventory, stocked_book, audit):
    book = str(await stocked_book(3))
    before = await audit()
    for body in ({"reference": str(uuid.uuid4()), "items": []},
                 {"reference": str(uuid.uuid4()), "items": [{"book_id": book, "quantity": 0}]},
                 {"reference": str(uuid.uuid4()), "items": [{"book_id": book, "quantity": 1}],
                  "ttl_seconds": 0},
                 {"reference": str(uuid.uuid4()), "items": [{"book_id": book, "quantity": 1}],
                  "ttl_seconds": 86_401},
                 {"reference": "nope", "items": [{"book_id": book, "quantity": 1}]},
                 {"reference": str(uuid.uuid4()), "items": [{"book_id": book, "quantity": 1}],
                  "status": "committed"}):
        response = await inventory.post(RESERVATIONS, json=body, headers=_key())
        assert response.status_code == 422, body
    missing_key = await inventory.post(RESERVATIONS, json={
        "reference": str(uuid.uuid4()), "items": [{"book_id": book, "quantity": 1}]})
    assert missing_key.status_code == 400
    assert await audit() == before


async def test_a_repeated_call_returns_the_stored_answer_and_reserves_once(
        inventory, stocked_book, audit):
    book = await stocked_book(4)
    body = {"reference": str(uuid.uuid4()), "items": [{"book_id": str(book), "quantity": 3}]}
    headers = _key()
    first = await inventory.post(RESERVATIONS, json=body, headers=headers)
    again = await inventory.post(RESERVATIONS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    changed = {**body, "items": [{"book_id": str(book), "quantity": 1}]}
    assert (await inventory.post(RESERVATIONS, json=changed, headers=headers)).status_code == 422
    assert _counts((await audit())[0][str(book)]) == (1, 3, 0)


async def test_reserving_a_reference_twice_returns_the_same_reservation(
        inventory, stocked_book, audit):
    book, reference = await stocked_book(4), uuid.uuid4()
    first = await _reserve(inventory, reference, [(book, 2)])
    second = await _reserve(inventory, reference, [(book, 2)])
    assert second.status_code == 201
    # the same reservation; its expiry is the same instant, though the first answer was
    # rendered by PostgreSQL (which drops a trailing zero of the microseconds) and the
    # second by Python
    assert _instants(second.json()) == _instants(first.json())
    assert _counts((await audit())[0][str(book)]) == (2, 2, 0)


def _instants(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "expires_at": datetime.fromisoformat(answer["expires_at"])}


async def test_releasing_gives_the_copies_back_once(inventory, stocked_book, audit):
    book, reference = await stocked_book(3), uuid.uuid4()
    await _reserve(inventory, reference, [(book, 3)])
    first = await _release(inventory, reference)
    second = await _release(inventory, reference)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"reference": str(reference), "status": "released"}
    assert _counts((await audit())[0][str(book)]) == (3, 0, 0)
    refused = await _reserve(inventory, reference, [(book, 1)])
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:bookstore:reference-voided"


async def test_a_release_before_its_reservation_voids_the_reference(
        inventory, stocked_book, audit):
    book, reference = await stocked_book(2), uuid.uuid4()
    voided = await _release(inventory, reference)
    assert voided.status_code == 200
    assert voided.json() == {"reference": str(reference), "status": "voided"}
    late = await _reserve(inventory, reference, [(book, 1)])
    assert late.status_code == 409
    assert late.json()["type"] == "urn:bookstore:reference-voided"
    assert (await _release(inventory, reference)).json()["status"] == "voided"
    books, held = await audit()
    assert _counts(books[str(book)]) == (2, 0, 0)
    assert held[str(reference)] == {"reference": str(reference), "status": "voided",
                                    "items": []}
    assert (await _commit(inventory, reference)).status_code == 409


async def test_committing_sells_the_held_copies_and_is_final(inventory, stocked_book, audit):
    book, reference = await stocked_book(3), uuid.uuid4()
    await _reserve(inventory, reference, [(book, 2)])
    first, second = await _commit(inventory, reference), await _commit(inventory, reference)
    assert first.json() == second.json() == {"reference": str(reference), "status": "committed"}
    assert _counts((await audit())[0][str(book)]) == (1, 0, 2)
    release = await _release(inventory, reference)
    assert release.status_code == 409
    assert _counts((await audit())[0][str(book)]) == (1, 0, 2)
    assert (await _commit(inventory, uuid.uuid4())).status_code == 404


async def test_twenty_concurrent_checkouts_for_three_copies_reserve_exactly_three(
        inventory, stocked_book, audit):
    book = await stocked_book(3)
    answers = await asyncio.gather(*(_reserve(inventory, uuid.uuid4(), [(book, 1)])
                                     for _ in range(20)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] * 3 + [409] * 17
    assert _counts((await audit())[0][str(book)]) == (0, 3, 0)


async def test_a_reservation_and_its_release_racing_leave_the_stock_whole(
        inventory, stocked_book, audit):
    book = await stocked_book(10)
    references = [uuid.uuid4() for _ in range(10)]
    await asyncio.gather(*(call for reference in references for call in (
        _reserve(inventory, reference, [(book, 1)]), _release(inventory, reference))))
    books, held = await audit()
    assert _counts(books[str(book)]) == (10, 0, 0)
    assert {held[str(r)]["status"] for r in references} <= {"released", "voided"}


async def test_an_expired_reservation_gives_its_copies_back(inventory, stocked_book, audit):
    book, reference = await stocked_book(2), uuid.uuid4()
    await _reserve(inventory, reference, [(book, 2)], ttl_seconds=1)
    for _ in range(60):
        books, held = await audit()
        if held[str(reference)]["status"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert held[str(reference)]["status"] == "expired"
    assert _counts(books[str(book)]) == (2, 0, 0)
    assert (await _release(inventory, reference)).json()["status"] == "expired"
    committed = await _commit(inventory, reference)
    assert committed.json()["status"] == "committed"
    assert _counts((await audit())[0][str(book)]) == (0, 0, 2)


async def test_committing_an_expired_reservation_whose_copies_are_gone_is_out_of_stock(
        inventory, stocked_book, audit):
    book, reference = await stocked_book(1), uuid.uuid4()
    await _reserve(inventory, reference, [(book, 1)], ttl_seconds=1)
    for _ in range(60):
        if (await audit())[1][str(reference)]["status"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert (await _reserve(inventory, uuid.uuid4(), [(book, 1)])).status_code == 201
    refused = await _commit(inventory, reference)
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:bookstore:out-of-stock"
    books, held = await audit()
    assert _counts(books[str(book)]) == (0, 1, 0)
    assert held[str(reference)]["status"] == "expired"


async def test_every_book_adds_up_after_all_of_the_above(inventory, audit):
    books, _ = await audit()
    for book in books.values():
        counts = _counts(book)
        assert sum(counts) == book["received"]
        assert min(counts) >= 0
