"""Crash tests: SIGKILL a process at each step boundary, restart it, check the books.

A test-only fault hook (`POST /internal/faults`, mounted only when MSA_ENV is dev
or test) arms a named point; the process kills itself with SIGKILL when it gets
there, the supervisor restarts it, and the work resumes from what was stored.
Afterwards every invariant must hold, and every order must have ended and the
system gone quiet within 30 s of the crash.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from bookstore.invariants import CHECKS
from msa.checks import messaging_quiet
from orders.saga import STEP_DEADLINE
from tests.shop import Bookstore, Shopper

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)
SETTLED_WITHIN = 30.0  # seconds from the crash to every order ended and the system quiet


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
                       work: Callable[[], Awaitable[object]]) -> float:
    """Arm `point` in every replica of `service`, run `work`, and wait for the crash and restart.

    Returns when (`time.monotonic()`) the supervisor saw the process die.
    """
    before = restarts(bookstore, service)
    await arm(bookstore, service, point)
    try:
        await work()
    except httpx.TransportError:
        pass  # the client's connection may be cut by the crash
    deadline = time.monotonic() + 30
    while restarts(bookstore, service) == before:
        assert time.monotonic() < deadline, f"{service} never reached {point}"
        await asyncio.sleep(0.05)
    crashed_at = time.monotonic()
    await arm(bookstore, service, None)
    bookstore.runner.wait_ready(timeout=30)
    return crashed_at


async def settled_in_time(bookstore: Bookstore, crashed_at: float) -> None:
    """Every order ended and the system quiet (no saga active, every order's event at its
    subscribers) within SETTLED_WITHIN seconds of the crash; then the outboxes drained and
    the consumers caught up, so the checks see every effect that is on its way."""
    left = max(0.0, crashed_at + SETTLED_WITHIN - time.monotonic())
    busy = await CHECKS.wait_quiet(bookstore.access, left)
    took = time.monotonic() - crashed_at
    assert busy is None and took <= SETTLED_WITHIN, \
        f"{took:.1f}s after the crash the system was still busy: {busy}"
    # a delivery a crashed consumer took but never acknowledged comes again only after
    # JetStream's ack wait (30 s): its effect is already there, the inbox skips it
    runner = bookstore.runner
    drained = messaging_quiet(runner.system.publishers, runner.nats_url)
    busy = await CHECKS.wait_quiet(bookstore.access, 60, also=[drained])
    assert busy is None, busy


async def shopper_with_cart(bookstore: Bookstore, credit: int) -> Shopper:
    book = await bookstore.new_book(copies=5, price_cents=1000)
    shopper = await bookstore.customer(credit=credit)
    await shopper.add_to_cart(book, 2)
    return shopper


async def placed_order(shopper: Shopper) -> dict:
    """The shopper's only order as soon as it exists, in whatever state."""
    for _ in range(300):
        response = await shopper.call("GET", "/api/orders")
        if response.status_code == 200 and response.json():
            return await shopper.order(response.json()[0]["id"])
        await asyncio.sleep(0.05)
    raise AssertionError("the order was never placed")


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

    crashed_at = await crash_during(bookstore, service, point, shopper.checkout)

    order = await only_order(shopper)
    await settled_in_time(bookstore, crashed_at)
    assert order["status"] == (ends or order["status"])
    expected = credit - 2000 if order["status"] == "CONFIRMED" else credit
    assert await shopper.balance() == expected
    await bookstore.check(quiet_timeout=60)


async def test_a_crash_after_reversing_the_revenue_credit_leaves_the_books_correct(
        bookstore: Bookstore):
    """The ledger stays silent past the step deadline, so the saga compensates; orders dies
    right after the ledger reversed the sale (`saga.credit_revenue.undone`), before it
    recorded that. The restarted replica reverses again (the same key) and goes on."""
    shopper = await shopper_with_cart(bookstore, 5000)

    async def ledger_silent_past_the_deadline() -> None:
        bookstore.runner.kill("ledger-0", signal.SIGSTOP)
        try:
            checkout = asyncio.create_task(shopper.checkout())
            saga_id = (await placed_order(shopper))["saga_id"]
            deadline = time.monotonic() + STEP_DEADLINE + 15
            while (await bookstore.access.get("orders", f"/internal/sagas/{saga_id}")
                   )["status"] != "compensating":
                assert time.monotonic() < deadline, "the saga never gave up on the ledger"
                await asyncio.sleep(0.2)
        finally:
            bookstore.runner.kill("ledger-0", signal.SIGCONT)
        await checkout

    crashed_at = await crash_during(bookstore, "orders", "saga.credit_revenue.undone",
                                    ledger_silent_past_the_deadline)

    order = await only_order(shopper)
    await settled_in_time(bookstore, crashed_at)
    assert order["status"] == "CANCELLED"
    assert order["reason"].startswith("credit_revenue: no answer within")
    assert await shopper.balance() == 5000
    undone = [s["step"] for s in order["steps"] if s["direction"] == "compensation"]
    assert undone == ["credit_revenue", "debit_wallet", "reserve_stock"]
    await bookstore.check(quiet_timeout=60)
