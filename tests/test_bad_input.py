"""Bad input gets a 4xx problem body and writes nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.shop import Bookstore

PROBLEM = "application/problem+json"


UNKNOWN_BOOK = str(uuid.UUID(int=7))


@pytest.mark.parametrize(("method", "path", "body", "status", "as_admin"), [
    ("POST", "/api/wallet/topups", {"amount_cents": 0}, 422, False),
    ("POST", "/api/wallet/topups", {"amount_cents": -500}, 422, False),
    ("POST", "/api/wallet/topups", {"amount_cents": "lots"}, 422, False),
    ("POST", "/api/wallet/topups", {"amount_cents": 100, "balance_cents": 10**6}, 422, False),
    ("POST", "/api/orders/cart/items", {"book_id": "BOOK", "quantity": 0}, 422, False),
    ("POST", "/api/orders/cart/items", {"book_id": "BOOK", "quantity": -1}, 422, False),
    ("POST", "/api/orders/cart/items", {"book_id": UNKNOWN_BOOK, "quantity": 1}, 404, False),
    ("PUT", "/api/orders/cart/items/BOOK", {"quantity": 0}, 422, False),
    ("PUT", "/api/orders/cart/items/BOOK", {"quantity": -3}, 422, False),
    ("PUT", f"/api/orders/cart/items/{UNKNOWN_BOOK}", {"quantity": 1}, 404, False),
    ("DELETE", f"/api/orders/cart/items/{UNKNOWN_BOOK}", None, 404, False),
    ("GET", f"/api/orders/{uuid.UUID(int=9)}", None, 404, False),
    ("GET", "/api/orders/not-a-uuid", None, 422, False),
    ("POST", "/api/inventory/admin/restock", {"book_id": "BOOK", "quantity": 0}, 422, True),
    ("POST", "/api/inventory/admin/restock", {"book_id": "BOOK", "quantity": -2}, 422, True),
])
async def test_invalid_requests_are_refused_with_a_problem_and_write_nothing(
        bookstore: Bookstore, method, path, body, status, as_admin):
    book = await bookstore.new_book(copies=1)
    shopper = await bookstore.customer(credit=100)
    assert (await shopper.add_to_cart(book, 2)).status_code == 200  # something to lose
    sender = await bookstore.admin() if as_admin else shopper
    before = await bookstore.written(shopper)
    if isinstance(body, dict):
        body = {k: (book if v == "BOOK" else v) for k, v in body.items()}
    response = await sender.call(method, path.replace("BOOK", book), body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    assert await bookstore.written(shopper) == before


async def test_malformed_json_is_a_422_problem(bookstore: Bookstore):
    shopper = await bookstore.customer()
    response = await shopper.http.post(
        "/api/wallet/topups", content=b'{"amount_cents": 5', headers={
            **shopper.auth, "content-type": "application/json", "Idempotency-Key": "m1"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await shopper.balance() == 0


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/wallet/topups", {"amount_cents": 100}),
    ("POST", "/api/orders/checkout", None),
    ("POST", "/api/orders/cart/items", {"book_id": "BOOK", "quantity": 1}),
    ("PUT", "/api/orders/cart/items/BOOK", {"quantity": 5}),
    ("DELETE", "/api/orders/cart/items/BOOK", None),
])
async def test_a_change_without_an_idempotency_key_is_refused_and_writes_nothing(
        bookstore: Bookstore, method, path, body):
    book = await bookstore.new_book(copies=3)
    shopper = await bookstore.customer(credit=5000)
    assert (await shopper.add_to_cart(book, 2)).status_code == 200  # a checkout would take it
    before = await bookstore.written(shopper)
    if isinstance(body, dict):
        body = {k: (book if v == "BOOK" else v) for k, v in body.items()}
    response = await shopper.call(method, path.replace("BOOK", book), body, key=None)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "Idempotency-Key" in response.json()["detail"]
    assert await bookstore.written(shopper) == before
    assert await shopper.balance() == 5000


async def test_checkout_of_an_empty_cart_is_refused(bookstore: Bookstore):
    shopper = await bookstore.customer(credit=100)
    response = await shopper.checkout()
    assert response.status_code == 422
    assert response.json()["detail"] == "your cart is empty"


async def test_another_users_order_is_not_found(bookstore: Bookstore):
    book = await bookstore.new_book(copies=2)
    owner, other = await bookstore.customer(credit=5000), await bookstore.customer()
    await owner.add_to_cart(book)
    order_id = (await owner.checkout()).json()["id"]
    assert (await other.call("GET", f"/api/orders/{order_id}")).status_code == 404


async def test_unknown_api_paths_and_bad_tokens_get_problems(bookstore: Bookstore):
    missing = await bookstore.http.get("/api/nothing/here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    forged = await bookstore.http.get("/api/wallet", headers={"Authorization": "Bearer abc.def"})
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith(PROBLEM)
    anonymous = await bookstore.http.get("/api/wallet")
    assert anonymous.status_code == 401
