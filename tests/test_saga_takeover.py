"""Two orders replicas: a saga's driver paused past its lease loses the saga, cleanly.

The driver stops itself (SIGSTOP, through a test-only `stop:` fault point) right
after the wallet took the money and before it recorded that (or the reservation
before it: successful remote steps are recorded with the saga's next write). The other replica
may take the saga over only once the lease has run out; it repeats the debit with
the same key (the wallet answers from its record) and ends the saga. When the
paused driver wakes up it still believes it holds the saga: its write is refused
and nothing it did after losing the lease is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from orders.saga import CHECKOUT
from tests.shop import (
    Bookstore,
    leases_lost,
    pause_a_saga_driver,
    resume_driver,
    saga_ended,
    saga_on,
)

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)
PRICE = 1000
CREDIT = 5000


async def test_a_driver_paused_past_its_lease_is_taken_over_and_records_nothing_after(
        bookstore: Bookstore):
    assert len(bookstore.runner.addresses["orders"]) == 2
    lost_before = await leases_lost(bookstore.runner.addresses["orders"][1])
    paused = await pause_a_saga_driver(bookstore, 1, "saga.debit_wallet.done",
                                       credit=CREDIT, price_cents=PRICE)
    paused_at = time.monotonic()
    old_owner, old_fence = paused.saga["owner"], paused.saga["fence"]
    # stock reserved and money taken, neither recorded: a successful remote step is
    # recorded with the saga's next write (here the confirm step's transaction)
    assert paused.saga["step"] == 0 and paused.saga["steps"] == []
    try:
        saga = await saga_ended(bookstore, paused.other_url, paused.saga_id,
                                timeout=CHECKOUT.lease + 20)
        waited = time.monotonic() - paused_at
    finally:
        await resume_driver(bookstore, paused)

    assert saga["status"] == "completed"
    assert saga["owner"].startswith("orders-0:") and saga["fence"] > old_fence
    assert waited > CHECKOUT.lease - 1.5, f"taken over after {waited:.1f}s, inside the lease"

    # the paused driver went on where it stopped: its write was refused, nothing recorded
    for _ in range(100):
        if await leases_lost(paused.url) > lost_before:
            break
        await asyncio.sleep(0.05)
    assert await leases_lost(paused.url) > lost_before
    log = (bookstore.runner.log_dir / f"{paused.instance}.log").read_text()
    assert any(paused.saga_id in line and "lease lost" in line for line in log.splitlines())
    after = await saga_on(bookstore, paused.other_url, paused.saga_id)
    assert after["steps"] == saga["steps"] and after["fence"] == saga["fence"]
    steps = [(s["step"], s["direction"], s["outcome"]) for s in after["steps"]]
    assert steps == [(name, "action", "ok") for name in CHECKOUT.names]
    assert Counter((s["step"], s["direction"]) for s in after["steps"]).most_common(1)[0][1] == 1
    # the new driver repeated the reservation and the debit with their keys (both
    # answered from the participants' records) and recorded every step itself
    assert all(s["driver"] != old_owner and s["fence"] == saga["fence"]
               for s in after["steps"])

    order = await paused.shopper.settled(saga["data"]["order_id"])
    assert order["status"] == "CONFIRMED"
    assert await paused.shopper.balance() == CREDIT - PRICE  # one debit, though asked twice
    results = {r.name: r for r in await bookstore.check(quiet_timeout=30)}
    assert results["orders"].counts["overlapping_saga_drivers"] == 0
