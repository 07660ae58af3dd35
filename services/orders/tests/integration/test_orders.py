"""Order history and detail after checkouts driven by the real saga."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .conftest import Shop, customer, key


async def _checkout(shop: Shop, who: dict[str, str], book: str, quantity: int) -> dict[str, Any]:
    added = await shop.orders.post("/api/orders/cart/items",
                                   json={"book_id": book, "quantity": quantity},
                                   headers={**who, **key()})
    assert added.status_code == 200, added.text
    placed = await shop.orders.post("/api/orders/checkout", headers={**who, **key()})
    assert placed.status_code in (201, 202), placed.text
    for _ in range(300):
        order: dict[str, Any] = (await shop.orders.get(f"/api/orders/{placed.json()['id']}",
                                                       headers=who)).json()
        if order["status"] != "PENDING":
            return order
        await asyncio.sleep(0.05)
    raise AssertionError(f"order still pending: {order}")


async def test_an_order_shows_its_lines_total_and_every_saga_step(shop, new_book, credited):
    book, ann = await new_book(copies=3, price_cents=1500), await credited(5000)
    order = await _checkout(shop, ann, book, 2)

    assert order["status"] == "CONFIRMED" and order["total_cents"] == 3000
    assert order["user_id"] == ann["X-User-Id"]
    assert [(line["book_id"], line["quantity"], line["price_cents"], line["title"])
            for line in order["lines"]] == [(book, 2, 1500, "A Book")]
    assert [(s["step"], s["direction"], s["outcome"]) for s in order["steps"]] == [
        ("reserve_stock", "action", "ok"), ("debit_wallet", "action", "ok"),
        ("credit_revenue", "action", "ok"), ("confirm_order", "action", "ok"),
        ("commit_stock", "action", "ok")]
    assert all(step["at"] for step in order["steps"])
    cart = (await shop.orders.get("/api/orders/cart", headers=ann)).json()
    assert cart == {"items": []}


async def test_a_cancelled_order_shows_why_and_the_compensations(shop, new_book, credited):
    book, bob = await new_book(copies=2, price_cents=4000), await credited(1000)
    order = await _checkout(shop, bob, book, 1)

    assert (order["status"], order["reason"]) == ("CANCELLED", "not enough credit")
    assert [s["step"] for s in order["steps"] if s["direction"] == "compensation"] == [
        "debit_wallet", "reserve_stock"]


async def test_history_lists_the_users_orders_newest_first(shop, new_book, credited):
    book, cy = await new_book(copies=5), await credited(10_000)
    first = await _checkout(shop, cy, book, 1)
    second = await _checkout(shop, cy, book, 2)

    history = (await shop.orders.get("/api/orders", headers=cy)).json()
    assert [(o["id"], o["status"], o["total_cents"]) for o in history] == [
        (second["id"], "CONFIRMED", 2500), (first["id"], "CONFIRMED", 1250)]
    page = (await shop.orders.get("/api/orders?limit=1&offset=1", headers=cy)).json()
    assert [o["id"] for o in page] == [first["id"]]
    assert (await shop.orders.get("/api/orders", headers=customer())).json() == []


async def test_another_users_order_and_an_unknown_one_are_not_found(shop, new_book, credited):
    book, dee = await new_book(copies=1), await credited(5000)
    order = await _checkout(shop, dee, book, 1)
    for who, order_id in ((customer(), order["id"]), (dee, str(uuid.uuid4()))):
        answer = await shop.orders.get(f"/api/orders/{order_id}", headers=who)
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    admin = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": "admin"}
    assert (await shop.orders.get(f"/api/orders/{order['id']}", headers=admin)
            ).json()["id"] == order["id"]


async def test_two_checkouts_of_one_cart_at_once_place_one_order_for_all_of_it(
        shop, new_book, credited):
    first, second = await new_book(price_cents=700), await new_book(price_cents=1100)
    ann = await credited(10_000)
    for book, quantity in ((first, 2), (second, 3)):
        added = await shop.orders.post("/api/orders/cart/items",
                                       json={"book_id": book, "quantity": quantity},
                                       headers={**ann, **key()})
        assert added.status_code == 200, added.text
    answers = await asyncio.gather(*(
        shop.orders.post("/api/orders/checkout", headers={**ann, **key()}) for _ in range(2)))
    placed = [answer for answer in answers if answer.status_code in (201, 202)]
    refused = [answer for answer in answers if answer.status_code == 422]
    assert len(placed) == 1 and len(refused) == 1, [answer.text for answer in answers]
    assert "empty" in refused[0].json()["detail"]
    order_id = placed[0].json()["id"]
    for _ in range(300):
        order = (await shop.orders.get(f"/api/orders/{order_id}", headers=ann)).json()
        if order["status"] != "PENDING":
            break
        await asyncio.sleep(0.05)
    assert order["status"] == "CONFIRMED", order
    assert order["total_cents"] == 2 * 700 + 3 * 1100
    assert sorted((line["book_id"], line["quantity"], line["price_cents"])
                  for line in order["lines"]) == sorted([(first, 2, 700), (second, 3, 1100)])
    wallet = (await shop.wallet.get("/api/wallet", headers=ann)).json()
    assert wallet["balance_cents"] == 10_000 - order["total_cents"]  # the saga's total
    assert (await shop.orders.get("/api/orders/cart", headers=ann)).json() == {"items": []}
