"""Many concurrent checkouts against two orders replicas: no saga has two drivers."""

from __future__ import annotations

import asyncio

import pytest

from tests.shop import Bookstore

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


async def test_two_hundred_concurrent_checkouts_on_two_replicas_keep_every_invariant(
        bookstore: Bookstore):
    assert len(bookstore.runner.addresses["orders"]) == 2
    books = [await bookstore.new_book(copies=60, price_cents=700) for _ in range(3)]
    buyers = await asyncio.gather(*(bookstore.customer(credit=3000 if i % 5 else 500)
                                    for i in range(200)))
    for i, buyer in enumerate(buyers):
        await buyer.add_to_cart(books[i % 3], 1 + i % 2)

    limit = asyncio.Semaphore(50)

    async def checkout(buyer):
        async with limit:
            return await buyer.checkout()

    responses = await asyncio.gather(*(checkout(b) for b in buyers))
    assert all(r.status_code in (201, 202) for r in responses), [
        r.text for r in responses if r.status_code not in (201, 202)][:3]
    orders = await asyncio.gather(*(b.settled(r.json()["id"], timeout=120)
                                    for b, r in zip(buyers, responses, strict=True)))

    confirmed = [o for o in orders if o["status"] == "CONFIRMED"]
    cancelled = [o for o in orders if o["status"] == "CANCELLED"]
    assert len(confirmed) + len(cancelled) == 200
    assert {o["reason"] for o in cancelled} <= {"not enough credit", "not enough stock"}
    assert any(o["reason"] == "not enough credit" for o in cancelled)
    results = {r.name: r for r in await bookstore.check(quiet_timeout=60)}
    assert results["orders"].counts["overlapping_saga_drivers"] == 0
    sagas = await bookstore.access.get("orders", "/internal/sagas?limit=1000")
    drivers = {item["owner"].split(":")[0] for item in sagas["items"]}
    assert drivers == {"orders-0", "orders-1"}, "both replicas should have driven sagas"
