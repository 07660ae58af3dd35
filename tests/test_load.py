"""Many concurrent checkouts against two orders replicas: no saga has two drivers."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import httpx
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

    # all 200 at once: one connection each, so none waits for the client's pool
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(base_url=bookstore.runner.gateway_url, timeout=60,
                                 limits=limits) as http:
        racers = [dataclasses.replace(buyer, http=http) for buyer in buyers]
        go = asyncio.Event()

        async def checkout(buyer):
            # a 504 or a connection lost before the answer is an unknown outcome: the
            # client asks again with the same key, as a real client would, and gets the
            # one order that key placed
            key = uuid.uuid4().hex
            await go.wait()
            last = "nothing"
            for _ in range(10):
                try:
                    response = await buyer.checkout(key)
                except httpx.TransportError as exc:
                    last = repr(exc)
                    await asyncio.sleep(1)
                    continue
                last = response.text
                if response.status_code in (201, 202):
                    return response
                assert response.status_code in (502, 503, 504), response.text
                await asyncio.sleep(1)
            raise AssertionError(f"checkout never answered: {last}")

        started = [asyncio.create_task(checkout(racer)) for racer in racers]
        await asyncio.sleep(0)  # every task is waiting at the start line
        go.set()
        responses = await asyncio.gather(*started)
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
