"""Administrators add and change books; each change is one event, a repeat changes nothing."""

import uuid

from catalog.domain import book_id_for
from catalog.seed import seed_books

ADMIN_BOOKS = "/api/catalog/admin/books"
NEW_BOOK = {"isbn": "978-0-306-40615-7", "title": "Signals and Noise", "author": "Ada Quist",
            "price_cents": 2450, "year": 2021, "description": "On hearing what matters."}


async def test_an_admin_adds_a_book_that_is_then_found_and_announced(catalog, admin, events):
    before, last = (await catalog.get("/internal/catalog/audit")).json(), await events.last_id()
    response = await catalog.post(ADMIN_BOOKS, json=NEW_BOOK, headers=admin)
    assert response.status_code == 201, response.text
    book = response.json()
    book_id = str(book_id_for("9780306406157"))
    assert book == {"id": book_id, "isbn": "9780306406157", "title": "Signals and Noise",
                    "author": "Ada Quist", "price_cents": 2450, "currency": "EUR", "year": 2021,
                    "description": "On hearing what matters.", "rating_avg": None,
                    "rating_count": 0}
    assert (await catalog.get(f"/api/catalog/books/{book_id}")).json() == book
    assert (await catalog.get("/api/catalog/books/isbn/9780306406157")).json() == book
    found = (await catalog.get("/api/catalog/books", params={"q": "signals and"})).json()
    assert [item["id"] for item in found["items"]] == [book_id]
    after = (await catalog.get("/internal/catalog/audit")).json()
    assert after["books"] == before["books"] + 1
    assert await events.after(last) == [{
        "type": "catalog.book.created.v1", "book_id": book_id, "isbn": "9780306406157",
        "title": "Signals and Noise", "author": "Ada Quist", "price_cents": 2450}]


async def test_repeating_a_create_with_its_key_answers_the_same_and_adds_nothing(
    catalog, admin, events
):
    body = {**NEW_BOOK, "isbn": "9783161484100", "title": "Second Sight"}
    first = await catalog.post(ADMIN_BOOKS, json=body, headers=admin)
    last = await events.last_id()
    again = await catalog.post(ADMIN_BOOKS, json=body, headers=admin)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await events.after(last) == []
    other = await catalog.post(ADMIN_BOOKS, json={**body, "price_cents": 1}, headers=admin)
    assert other.status_code == 422  # the same key with another body


async def test_a_second_book_with_an_existing_isbn_is_a_409(catalog, admin, events):
    seeded = seed_books()[0]
    last = await events.last_id()
    response = await catalog.post(ADMIN_BOOKS, json={**NEW_BOOK, "isbn": seeded.isbn},
                                  headers=admin)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert seeded.isbn in response.json()["detail"]
    book = (await catalog.get(f"/api/catalog/books/isbn/{seeded.isbn}")).json()
    assert book["title"] == seeded.title
    assert await events.after(last) == []


async def test_a_bad_new_book_is_refused_with_422(catalog, admin):
    for changes in ({"isbn": "9780306406158"}, {"isbn": "0306406152"}, {"title": ""},
                    {"price_cents": 0}, {"year": 1200}, {"currency": "USD"},
                    {"rating_avg": 5.0}):
        headers = {**admin, "Idempotency-Key": str(uuid.uuid4())}
        response = await catalog.post(ADMIN_BOOKS, json={**NEW_BOOK, **changes}, headers=headers)
        assert response.status_code == 422, changes


async def test_only_an_admin_with_a_key_may_add_a_book(catalog, admin):
    customer = {**admin, "X-User-Role": "customer"}
    assert (await catalog.post(ADMIN_BOOKS, json=NEW_BOOK, headers=customer)).status_code == 403
    nobody = {"Idempotency-Key": admin["Idempotency-Key"]}
    assert (await catalog.post(ADMIN_BOOKS, json=NEW_BOOK, headers=nobody)).status_code == 401
    no_key = {key: value for key, value in admin.items() if key != "Idempotency-Key"}
    assert (await catalog.post(ADMIN_BOOKS, json=NEW_BOOK, headers=no_key)).status_code == 400


async def test_an_admin_changes_a_book_and_the_change_is_announced(catalog, admin, events):
    seeded = seed_books()[3]
    book_id = str(book_id_for(seeded.isbn))
    last = await events.last_id()
    response = await catalog.patch(f"{ADMIN_BOOKS}/{book_id}",
                                   json={"price_cents": 1234, "title": "A New Title"},
                                   headers=admin)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["price_cents"], changed["title"]) == (1234, "A New Title")
    assert (changed["isbn"], changed["author"], changed["year"]) == (
        seeded.isbn, seeded.author, seeded.year)
    assert (await catalog.get(f"/api/catalog/books/{book_id}")).json() == changed
    assert await events.after(last) == [{
        "type": "catalog.book.updated.v1", "book_id": book_id, "title": "A New Title",
        "author": seeded.author, "price_cents": 1234}]

    last = await events.last_id()
    again = await catalog.patch(f"{ADMIN_BOOKS}/{book_id}",
                                json={"price_cents": 1234, "title": "A New Title"},
                                headers=admin)
    assert again.json() == changed
    assert await events.after(last) == []


async def test_an_empty_change_answers_the_book_and_announces_nothing(catalog, admin, events):
    book_id = str(book_id_for(seed_books()[4].isbn))
    last = await events.last_id()
    response = await catalog.patch(f"{ADMIN_BOOKS}/{book_id}", json={}, headers=admin)
    assert response.status_code == 200
    assert response.json() == (await catalog.get(f"/api/catalog/books/{book_id}")).json()
    assert await events.after(last) == []


async def test_a_change_to_an_unknown_book_is_404_and_to_its_isbn_422(catalog, admin):
    unknown = await catalog.patch(f"{ADMIN_BOOKS}/{uuid.uuid4()}", json={"price_cents": 100},
                                  headers=admin)
    assert unknown.status_code == 404
    book_id = str(book_id_for(seed_books()[5].isbn))
    for body in ({"isbn": "9780306406157"}, {"price_cents": -1}, {"rating_count": 9}):
        headers = {**admin, "Idempotency-Key": str(uuid.uuid4())}
        response = await catalog.patch(f"{ADMIN_BOOKS}/{book_id}", json=body, headers=headers)
        assert response.status_code == 422, body
    customer = {**admin, "X-User-Role": "customer", "Idempotency-Key": str(uuid.uuid4())}
    refused = await catalog.patch(f"{ADMIN_BOOKS}/{book_id}", json={"price_cents": 100},
                                  headers=customer)
    assert refused.status_code == 403
