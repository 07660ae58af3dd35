"""Text PostgreSQL cannot store, and carts past their limits, get 4xx problems through the
gateway of the running bookstore, and nothing is written."""

from __future__ import annotations

import uuid

import pytest

from tests.shop import PASSWORD, Bookstore

PROBLEM = "application/problem+json"
NUL_REQUESTS = [
    ("GET", "/api/catalog/books?q=dune%00", None, ["query", "q"]),
    ("GET", "/api/catalog/books?author=%00", None, ["query", "author"]),
    ("GET", "/api/catalog/books/isbn/978%000306406157", None, ["path"]),
    ("PUT", "/api/reviews/books/BOOK/mine", b'{"rating": 4, "text": "good\\u0000"}',
     ["body", "text"]),
    ("POST", "/api/identity/login", b'{"email": "EMAIL\\u0000", "password": "x"}',
     ["body", "email"]),
    ("POST", "/api/identity/register", b'{"email": "a\\u0000@example.com", "password": "PW"}',
     ["body", "email"]),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_REQUESTS,
                         ids=[" ".join(r[:2]) for r in NUL_REQUESTS])
async def test_a_nul_character_is_a_422_problem_naming_the_field_and_writes_nothing(
        bookstore: Bookstore, method, path, body, field):
    book = await bookstore.new_book(copies=1)
    shopper = await bookstore.customer()
    before = await bookstore.written(shopper)
    if body is not None:
        body = (body.replace(b"EMAIL", shopper.email.encode())
                .replace(b"PW", PASSWORD.encode()))
    response = await shopper.http.request(
        method, path.replace("BOOK", book), content=body,
        headers={**shopper.auth, "content-type": "application/json",
                 "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["errors"][0]["loc"] == field
    assert await bookstore.written(shopper) == before


async def test_a_cart_line_past_its_limit_is_a_422_problem_and_the_line_stays(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=1)
    shopper = await bookstore.customer()
    assert (await shopper.add_to_cart(book, 60)).status_code == 200
    before = await bookstore.written(shopper)
    refused = await shopper.add_to_cart(book, 60)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert "at most 100" in refused.json()["detail"]
    assert await bookstore.written(shopper) == before
    assert await shopper.cart() == [{"book_id": book, "quantity": 60}]


async def seeded_books(bookstore: Bookstore, count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        page = await bookstore.http.get("/api/catalog/books",
                                        params={"limit": 100, "offset": len(ids)})
        assert page.status_code == 200, page.text
        ids += [book["id"] for book in page.json()["items"]]
    return ids[:count]


@pytest.mark.parametrize("bookstore", ["process"], indirect=True)
async def test_a_cart_holds_at_most_100_books_and_a_full_cart_checks_out(bookstore: Bookstore):
    books = await seeded_books(bookstore, 101)
    shopper = await bookstore.customer(credit=500_000)
    for book in books[:100]:
        assert (await shopper.add_to_cart(book)).status_code == 200
    before = await bookstore.written(shopper)
    full = await shopper.add_to_cart(books[100])
    assert full.status_code == 409, full.text
    assert full.headers["content-type"].startswith(PROBLEM)
    assert full.json()["title"] == "Cart full"
    assert await bookstore.written(shopper) == before
    again = await shopper.add_to_cart(books[0])  # a book already held still takes more
    assert again.status_code == 200, again.text
    order = await shopper.settled((await shopper.checkout()).json()["id"])
    assert order["status"] == "CONFIRMED", order
