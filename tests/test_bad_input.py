"""Bad input gets a 4xx problem body and writes nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.shop import Bookstore

PROBLEM = "application/problem+json"


async def totals(bookstore: Bookstore) -> tuple:
    wallet = await bookstore.access.get("wallet", "/internal/wallet/audit")
    orders = await bookstore.access.get("orders", "/internal/orders/audit")
    stock = await bookstore.access.get("inventory", "/internal/inventory/audit")
    return (wallet["total_topups_cents"], len(wallet["debits"]), len(orders["orders"]),
            sum(b["received"] for b in stock["books"]), len(stock["reservations"]))


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("POST", "/api/wallet/topups", {"amount_cents": 0}, 422),
    ("POST", "/api/wallet/topups", {"amount_cents": -500}, 422),
    ("POST", "/api/wallet/topups", {"amount_cents": "lots"}, 422),
    ("POST", "/api/wallet/topups", {"amount_cents": 100, "balance_cents": 10**6}, 422),
    ("POST", "/api/orders/cart/items", {"book_id": "BOOK", "quantity": 0}, 422),
    ("POST", "/api/orders/cart/items", {"book_id": "BOOK", "quantity": -1}, 422),
    ("POST", "/api/orders/cart/items", {"book_id": str(uuid.UUID(int=7)), "quantity": 1}, 404),
    ("PUT", "/api/orders/cart/items/BOOK", {"quantity": 0}, 422),
    ("GET", f"/api/orders/{uuid.UUID(int=9)}", None, 404),
    ("GET", "/api/orders/not-a-uuid", None, 422),
    ("POST", "/api/inventory/admin/restock", {"book_id": "BOOK", "quantity": 0}, 403),
])
async def test_invalid_requests_are_refused_with_a_problem_and_write_nothing(
        bookstore: Bookstore, method, path, body, status):
    book = await bookstore.new_book(copies=1)
    shopper = await bookstore.customer(credit=100)
    before = await totals(bookstore)
    if isinstance(body, dict):
        body = {k: (book if v == "BOOK" else v) for k, v in body.items()}
    response = await shopper.call(method, path.replace("BOOK", book), body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    assert await totals(bookstore) == before


async def test_malformed_json_is_a_422_problem(bookstore: Bookstore):
    shopper = await bookstore.customer()
    response = await shopper.http.post(
        "/api/wallet/topups", content=b'{"amount_cents": 5', headers={
            **shopper.auth, "content-type": "application/json", "Idempotency-Key": "m1"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert await shopper.balance() == 0


@pytest.mark.parametrize("path", ["/api/wallet/topups", "/api/orders/checkout",
                                  "/api/orders/cart/items"])
async def test_a_post_without_an_idempotency_key_is_refused(bookstore: Bookstore, path):
    shopper = await bookstore.customer(credit=100)
    response = await shopper.call("POST", path, {"amount_cents": 100}, key=None)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "Idempotency-Key" in response.json()["detail"]
    assert await shopper.balance() == 100


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
