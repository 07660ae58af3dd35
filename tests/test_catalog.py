"""The catalog through the gateway: the same API in process and monolith mode."""

from __future__ import annotations

from tests.shop import Bookstore, new_isbn


async def test_books_are_listed_in_pages(bookstore: Bookstore):
    first = (await bookstore.http.get("/api/catalog/books", params={"limit": 5})).json()
    second = (await bookstore.http.get("/api/catalog/books",
                                       params={"limit": 5, "offset": 5})).json()
    assert len(first["items"]) == 5 and len(second["items"]) == 5
    assert first["total"] >= 200
    assert not {b["id"] for b in first["items"]} & {b["id"] for b in second["items"]}


async def test_books_are_found_by_title_author_id_and_isbn(bookstore: Bookstore):
    some = (await bookstore.http.get("/api/catalog/books", params={"limit": 1})).json()["items"][0]
    word = some["title"].split()[-1].lower()
    found = (await bookstore.http.get("/api/catalog/books", params={"q": word})).json()
    assert some["id"] in {b["id"] for b in found["items"]} or found["total"] > len(found["items"])
    assert all(word in (b["title"] + b["author"]).lower() for b in found["items"])
    by_author = (await bookstore.http.get("/api/catalog/books",
                                          params={"author": some["author"]})).json()
    assert all(b["author"] == some["author"] for b in by_author["items"])
    assert (await bookstore.http.get(f"/api/catalog/books/{some['id']}")).json() == some
    assert (await bookstore.http.get(f"/api/catalog/books/isbn/{some['isbn']}")).json() == some


async def test_invalid_query_parameters_get_a_422_problem(bookstore: Bookstore):
    for params in ({"limit": 0}, {"limit": 1000}, {"offset": -1}, {"limit": "many"}):
        response = await bookstore.http.get("/api/catalog/books", params=params)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"]


async def test_an_admin_creates_and_changes_a_book_and_a_customer_cannot(bookstore: Bookstore):
    admin, customer = await bookstore.admin(), await bookstore.customer()
    book = {"isbn": new_isbn(), "title": "A Field Guide to Queues", "author": "R. Mensah",
            "price_cents": 2900, "year": 2024}
    assert (await customer.call("POST", "/api/catalog/admin/books", book)).status_code == 403
    created = await admin.call("POST", "/api/catalog/admin/books", book)
    assert created.status_code == 201
    book_id = created.json()["id"]
    changed = await admin.call("PATCH", f"/api/catalog/admin/books/{book_id}",
                               {"price_cents": 2500}, key="price-1")
    assert changed.status_code == 200 and changed.json()["price_cents"] == 2500
    duplicate = await admin.call("POST", "/api/catalog/admin/books", book)
    assert duplicate.status_code == 409
    mass = await admin.call("PATCH", f"/api/catalog/admin/books/{book_id}",
                            {"rating_avg": 5}, key="price-2")
    assert mass.status_code == 422


async def test_the_book_page_aggregates_book_stock_and_reviews(bookstore: Bookstore):
    book = await bookstore.new_book(copies=5)
    reader = await bookstore.buyer(book)  # only buyers review: 4 copies left
    review = await reader.review(book, 4, "Clear and kind.")
    assert review.status_code == 200, review.text
    page = (await bookstore.http.get(f"/api/books/{book}/page")).json()
    assert page["book"]["id"] == book
    assert page["stock"] == {"available": True, "data": {"book_id": book, "available": 4}}
    assert page["reviews"]["available"] is True
    assert page["reviews"]["data"]["count"] == 1
    assert page["reviews"]["data"]["items"][0]["text"] == "Clear and kind."
