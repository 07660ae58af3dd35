"""Crash tests: SIGKILL a process at each step boundary, restart it, check the books.

A test-only fault hook (`POST /internal/faults`, mounted only when MSA_ENV is dev
or test) arms a named point; the process kills itself with SIGKILL when it gets
there, the supervisor restarts it, and the work resumes from what was stored.
Afterwards every invariant must hold and every order must have ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.shop import Bookstore, Shopper

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


def restarts(bookstore: Bookstore, service: str) -> int:
    return sum(i.restarts for i in bookstore.runner.status().instances if i.service == service)


async def arm(bookstore: Bookstore, service: str, point: str | None) -> None:
    headers = bookstore.access.auth_headers(service)  # fault hooks are for operators only
    async with httpx.AsyncClient(timeout=5, headers=headers) as http:
        for url in bookstore.runner.addresses[service]:
            try:
                if point:
                    response = await http.post(f"{url}/internal/faults", json={"points": point})
                    assert response.status_code == 200, response.text
                else:
                    await http.delete(f"{url}/internal/faults")
            except httpx.TransportError:
                pass  # a replica that died at the point is being restarted


async def crash_during(bookstore: Bookstore, service: str, point: str,
                       work: Callable[[], Awaitable[object]]) -> None:
    """Arm `point` in every replica of `service`, run `work`, and wait for the crash and restart."""
    before = restarts(bookstore, service)
    await arm(bookstore, service, point)
    try:
        await work()
    except httpx.TransportError:
        pass  # the client's connection may be cut by the crash
    deadline = time.monotonic() + 30
    while restarts(bookstore, service) == before:
        assert time.monotonic() < deadline, f"{service} never reached {point}"
        await asyncio.sleep(0.1)
    await arm(bookstore, service, None)
    bookstore.runner.wait_ready(timeout=30)


async def shopper_with_cart(bookstore: Bookstore, credit: int) -> Shopper:
    book = await bookstore.new_book(copies=5, price_cents=1000)
    shopper = await bookstore.customer(credit=credit)
    await shopper.add_to_cart(book, 2)
    return shopper


async def only_order(shopper: Shopper) -> dict:
    for _ in range(300):
        response = await shopper.call("GET", "/api/orders")
        if response.status_code == 200 and response.json():
            return await shopper.settled(response.json()[0]["id"], timeout=60)
        await asyncio.sleep(0.1)
    raise AssertionError("the order was never placed")


@pytest.mark.parametrize(("service", "point", "credit", "ends"), [
    ("orders", "idempotency.after_commit", 5000, "CONFIRMED"),
    ("orders", "saga.reserve_stock.done", 5000, "CONFIRMED"),
    ("orders", "saga.debit_wallet.done", 5000, "CONFIRMED"),
    ("orders", "saga.credit_revenue.done", 5000, "CONFIRMED"),
    ("orders", "saga.confirm_order.done", 5000, "CONFIRMED"),
    ("orders", "saga.commit_stock.done", 5000, "CONFIRMED"),
    ("orders", "saga.debit_wallet.undone", 500, "CANCELLED"),
    ("orders", "saga.reserve_stock.undone", 500, "CANCELLED"),
    ("orders", "relay.before_publish", 5000, "CONFIRMED"),
    ("orders", "relay.after_publish", 5000, "CONFIRMED"),
    # a participant down for longer than the step deadline is compensated: either ending
    # is right, as long as the money matches it
    ("inventory", "idempotency.after_commit", 5000, None),
    ("wallet", "idempotency.after_commit", 5000, None),
    ("ledger", "idempotency.after_commit", 5000, None),
    ("notifications", "consumer.after_commit", 5000, "CONFIRMED"),
])
async def test_a_crash_at_any_step_leaves_the_books_correct(
        bookstore: Bookstore, service: str, point: str, credit: int, ends: str | None):
    shopper = await shopper_with_cart(bookstore, credit)

    await crash_during(bookstore, service, point, shopper.checkout)

    order = await only_order(shopper)
    assert order["status"] == (ends or order["status"])
    expected = credit - 2000 if order["status"] == "CONFIRMED" else credit
    assert await shopper.balance() == expected
    await bookstore.check(quiet_timeout=60)
