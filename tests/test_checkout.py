"""The checkout saga end to end through the gateway, in process and monolith mode."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.shop import Bookstore


async def test_a_paid_checkout_confirms_and_moves_money_and_stock(bookstore: Bookstore):
    book = await bookstore.new_book(copies=5, price_cents=1250)
    ann = await bookstore.customer(credit=5000)
    assert (await ann.add_to_cart(book, 2)).status_code == 200

    response = await ann.checkout()
    assert response.status_code in (201, 202), response.text
    order = await ann.settled(response.json()["id"])

    assert order["status"] == "CONFIRMED"
    assert order["total_cents"] == 2500
    assert [s["step"] for s in order["steps"] if s["outcome"] == "ok"] == [
        "reserve_stock", "debit_wallet", "credit_revenue", "confirm_order", "commit_stock"]
    assert await ann.balance() == 2500
    assert await bookstore.available(book) == 3
    ledger = await bookstore.access.get("ledger", "/internal/ledger/audit")
    sale = [s for s in ledger["sales"] if s["order_id"] == order["id"]]
    assert [(s["amount_cents"], s["status"]) for s in sale] == [(2500, "credited")]
    await bookstore.check()


async def test_too_little_credit_cancels_and_releases_the_stock(bookstore: Bookstore):
    book = await bookstore.new_book(copies=2, price_cents=4000)
    bob = await bookstore.customer(credit=1000)
    await bob.add_to_cart(book, 1)

    order = await bob.settled((await bob.checkout()).json()["id"])

    assert order["status"] == "CANCELLED"
    assert order["reason"] == "not enough credit"
    assert await bob.balance() == 1000
    assert await bookstore.available(book) == 2
    undone = [s["step"] for s in order["steps"] if s["direction"] == "compensation"]
    assert undone == ["debit_wallet", "reserve_stock"]
    await bookstore.check()


async def test_out_of_stock_cancels_before_any_money_moves(bookstore: Bookstore):
    book = await bookstore.new_book(copies=1)
    cat = await bookstore.customer(credit=10_000)
    await cat.add_to_cart(book, 3)

    order = await cat.settled((await cat.checkout()).json()["id"])

    assert order["status"] == "CANCELLED"
    assert order["reason"] == "not enough stock"
    assert [s["step"] for s in order["steps"] if s["direction"] == "action"] == ["reserve_stock"]
    assert await cat.balance() == 10_000
    wallet = await bookstore.access.get("wallet", "/internal/wallet/audit")
    assert not [d for d in wallet["debits"] if d["user_id"] == cat.user_id]
    assert await bookstore.available(book) == 1


async def test_twenty_buyers_for_the_last_three_copies_get_exactly_three(bookstore: Bookstore):
    book = await bookstore.new_book(copies=3)
    buyers = await asyncio.gather(*(bookstore.customer(credit=5000) for _ in range(20)))
    for buyer in buyers:
        await buyer.add_to_cart(book, 1)

    responses = await asyncio.gather(*(buyer.checkout() for buyer in buyers))
    orders = await asyncio.gather(*(
        buyer.settled(r.json()["id"]) for buyer, r in zip(buyers, responses, strict=True)))

    statuses = sorted(order["status"] for order in orders)
    assert statuses.count("CONFIRMED") == 3
    assert statuses.count("CANCELLED") == 17
    assert await bookstore.available(book) == 0
    await bookstore.check()


async def test_repeating_a_checkout_with_the_same_key_places_one_order(bookstore: Bookstore):
    book = await bookstore.new_book(copies=4)
    dee = await bookstore.customer(credit=5000)
    await dee.add_to_cart(book, 1)
    key = uuid.uuid4().hex

    first, second = await asyncio.gather(dee.checkout(key), dee.checkout(key))
    third = await dee.checkout(key)

    ids = {r.json()["id"] for r in (first, second, third)}
    assert len(ids) == 1
    orders = (await dee.call("GET", "/api/orders")).json()
    assert [o["id"] for o in orders] == list(ids)
    await dee.settled(ids.pop())
    assert await dee.balance() == 5000 - 1250


async def test_the_same_key_with_another_body_is_refused(bookstore: Bookstore):
    eve = await bookstore.customer()
    key = uuid.uuid4().hex
    assert (await eve.call("POST", "/api/wallet/topups", {"amount_cents": 100}, key=key)
            ).status_code == 201
    again = await eve.call("POST", "/api/wallet/topups", {"amount_cents": 900}, key=key)
    assert again.status_code == 422
    assert again.headers["content-type"].startswith("application/problem+json")
    assert await eve.balance() == 100


async def _listed(bookstore: Bookstore, book: str, title: str) -> dict:
    page = (await bookstore.http.get("/api/catalog/books", params={"q": title})).json()
    return next(item for item in page["items"] if item["id"] == book)


async def _listed_rating(bookstore: Bookstore, book: str, expected: tuple,
                         timeout: float = 10.0) -> tuple:
    """The book's (average, count) in the catalog's book list once it is `expected`."""
    title = (await bookstore.http.get(f"/api/catalog/books/{book}")).json()["title"]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        listed = await _listed(bookstore, book, title)
        seen = (listed["rating_avg"], listed["rating_count"])
        if seen == expected or asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(0.1)


async def test_a_review_changes_the_average_rating_in_the_catalogs_book_list(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=2)
    ann, bob = await bookstore.buyer(book), await bookstore.buyer(book)  # only buyers review
    assert await _listed_rating(bookstore, book, (None, 0), timeout=0) == (None, 0)

    for reader, rating in ((ann, 4), (bob, 5)):
        written = await reader.review(book, rating, "read it")
        assert written.status_code == 200, written.text
    assert await _listed_rating(bookstore, book, (4.5, 2)) == (4.5, 2)

    assert (await bob.call("DELETE", f"/api/reviews/books/{book}/mine")).status_code == 204
    assert await _listed_rating(bookstore, book, (4.0, 1)) == (4.0, 1)
    await bookstore.check()


async def _orders_price(bookstore: Bookstore, book: str) -> int | None:
    conn = await asyncpg.connect(bookstore.runner.database_url("orders"))
    try:
        return await conn.fetchval("SELECT price_cents FROM books WHERE book_id = $1",
                                   uuid.UUID(book))
    finally:
        await conn.close()


async def test_a_checkout_charges_the_price_orders_learned_and_the_order_keeps_it(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=5, price_cents=1000)
    dee = await bookstore.customer(credit=10_000)
    await dee.add_to_cart(book, 1)
    first = await dee.settled((await dee.checkout()).json()["id"])
    assert (first["status"], first["total_cents"]) == ("CONFIRMED", 1000)

    admin = await bookstore.admin()
    changed = await admin.call("PATCH", f"/api/catalog/admin/books/{book}",
                               {"price_cents": 1500}, key=f"reprice-{book}")
    assert changed.status_code == 200, changed.text
    for _ in range(200):  # orders learns the new price from catalog's event
        if await _orders_price(bookstore, book) == 1500:
            break
        await asyncio.sleep(0.05)
    await dee.add_to_cart(book, 1)
    second = await dee.settled((await dee.checkout()).json()["id"])

    assert (second["status"], second["total_cents"]) == ("CONFIRMED", 1500)
    assert [line["price_cents"] for line in second["lines"]] == [1500]
    assert (await dee.order(first["id"]))["total_cents"] == 1000  # charged, and kept
    assert await dee.balance() == 10_000 - 2500


async def test_a_book_orders_has_not_heard_of_yet_is_priced_by_catalog(bookstore: Bookstore):
    book = await bookstore.new_book(copies=3, price_cents=700)
    for _ in range(200):
        if await _orders_price(bookstore, book) is not None:
            break
        await asyncio.sleep(0.05)
    conn = await asyncpg.connect(bookstore.runner.database_url("orders"))
    try:  # as if catalog's event were still on its way
        await conn.execute("DELETE FROM books WHERE book_id = $1", uuid.UUID(book))
    finally:
        await conn.close()
    eve = await bookstore.customer(credit=5000)
    assert (await eve.add_to_cart(book, 2)).status_code == 200
    order = await eve.settled((await eve.checkout()).json()["id"])
    assert (order["status"], order["total_cents"]) == ("CONFIRMED", 1400)
    assert (await eve.add_to_cart(uuid.uuid4().hex, 1)).status_code == 404  # no such book
