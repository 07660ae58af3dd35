"""Failing soft: a stopped or paused dependency costs its callers little and bounded time.

SIGSTOP pauses a process without closing its sockets: connections are accepted
by the kernel and then nothing answers, the hardest case for callers (a crashed
process at least refuses connections).
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from msa.metrics_access import scrape_headers
from msa.resilience import CLOSED, OPEN
from tests.shop import Bookstore, Shopper

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)

PAGE_DEADLINE = 2.0  # the book (2 s at most) with its optional parts fetched alongside (1 s)
STEP_DEADLINE = 10.0  # orders.saga.STEP_DEADLINE: a participant silent this long is given up


async def breaker_state(bookstore: Bookstore, target: str) -> float:
    async with httpx.AsyncClient(timeout=5,
                                 headers=scrape_headers(bookstore.runner.data_dir)) as http:
        text = (await http.get(f"{bookstore.runner.url('gateway')}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "msa_circuit_breaker_state"
                    and sample.labels == {"service": "gateway", "target": target}):
                return sample.value
    raise AssertionError(f"no breaker gauge for gateway → {target}")


async def deadline_failures(bookstore: Bookstore, step: str) -> float:
    """`msa_saga_step_failures_total{cause="deadline"}` of `step`, over every orders replica."""
    total = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        for url in bookstore.runner.addresses["orders"]:
            text = (await http.get(f"{url}/metrics")).text
            total += sum(sample.value for family in text_string_to_metric_families(text)
                         for sample in family.samples
                         if sample.name == "msa_saga_step_failures_total"
                         and sample.labels.get("step") == step
                         and sample.labels.get("cause") == "deadline")
    return total


async def test_book_pages_stay_fast_while_reviews_is_stopped_and_its_breaker_opens_and_closes(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=2)
    page = f"/api/books/{book}/page"
    assert (await bookstore.http.get(page)).json()["reviews"]["available"] is True

    bookstore.runner.kill("reviews-0", signal.SIGSTOP)
    try:
        timings = []
        for _ in range(12):
            started = time.perf_counter()
            response = await bookstore.http.get(page)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["book"]["id"] == book and body["stock"]["available"] is True
            assert body["reviews"] == {"available": False, "data": None}
        assert max(timings) < PAGE_DEADLINE, timings
        assert await breaker_state(bookstore, "reviews") == OPEN
        assert max(timings[-5:]) < 0.25, timings  # the open breaker fails the part fast
    finally:
        bookstore.runner.kill("reviews-0", signal.SIGCONT)

    deadline = time.monotonic() + 20  # after the pause, one probe closes the breaker
    while not (await bookstore.http.get(page)).json()["reviews"]["available"]:
        assert time.monotonic() < deadline, "reviews never came back on the book page"
        await asyncio.sleep(0.5)
    assert await breaker_state(bookstore, "reviews") == CLOSED


async def sample_latencies(http: httpx.AsyncClient, book: str, stop: asyncio.Event,
                           workers: int = 2) -> list[float]:
    """Catalog pages through the gateway until `stop` is set, paced, from `workers` clients."""
    latencies: list[float] = []

    async def worker(n: int) -> None:
        paths = [f"/api/catalog/books/{book}", "/api/catalog/books?limit=5"]
        while not stop.is_set():
            started = time.perf_counter()
            response = await http.get(paths[n % 2])
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            n += 1
            await asyncio.sleep(0.01)

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return latencies


async def for_seconds(seconds: float) -> asyncio.Event:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return stop


async def debit_given_up(shopper: Shopper, order_id: str) -> bool:
    order = await shopper.order(order_id)
    return any(s["step"] == "debit_wallet" and s["outcome"] == "failed" for s in order["steps"])


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def test_a_wallet_paused_past_the_step_deadline_cancels_checkouts_and_spares_the_catalog(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=10, price_cents=1000)
    shoppers = await asyncio.gather(*(bookstore.customer(credit=5000) for _ in range(3)))
    for shopper in shoppers:
        await shopper.add_to_cart(book, 1)
    calm = await sample_latencies(bookstore.http, book, await for_seconds(8.0))
    failures_before = await deadline_failures(bookstore, "debit_wallet")

    bookstore.runner.kill("wallet-0", signal.SIGSTOP)
    paused = time.monotonic()
    stop = asyncio.Event()
    during = asyncio.ensure_future(sample_latencies(bookstore.http, book, stop))
    try:
        responses = await asyncio.gather(*(shopper.checkout() for shopper in shoppers))
        assert all(r.status_code in (201, 202) for r in responses), [r.text for r in responses]
        ids = [r.json()["id"] for r in responses]
        # keep the wallet paused until every saga has given the debit up (its step deadline)
        while not all([await debit_given_up(s, i) for s, i in zip(shoppers, ids, strict=True)]):
            assert time.monotonic() - paused < STEP_DEADLINE + 20, "the debit was never given up"
            await asyncio.sleep(1.0)
        given_up = time.monotonic() - paused
    finally:
        bookstore.runner.kill("wallet-0", signal.SIGCONT)
        stop.set()
    busy = await during

    orders = await asyncio.gather(*(shopper.settled(order_id, timeout=45)
                                    for shopper, order_id in zip(shoppers, ids, strict=True)))
    settled_after = time.monotonic() - paused
    print(f"\ncatalog p99 calm {p99(calm) * 1000:.1f} ms ({len(calm)} requests), "
          f"wallet paused {p99(busy) * 1000:.1f} ms ({len(busy)}); debits given up "
          f"{given_up:.1f} s and checkouts ended {settled_after:.1f} s after the pause began")
    for order in orders:
        assert order["status"] == "CANCELLED", order
        assert "debit_wallet" in order["reason"], order["reason"]
        undone = [s["step"] for s in order["steps"] if s["direction"] == "compensation"]
        assert undone == ["debit_wallet", "reserve_stock"], order["steps"]
    assert settled_after < 45
    # what the checkout SLO counts: a saga given up on a deadline, not a business refusal
    assert await deadline_failures(bookstore, "debit_wallet") - failures_before == 3
    assert len(calm) >= 200 and len(busy) >= 200  # enough pages for a p99 worth the name
    assert p99(busy) <= 2 * p99(calm)
    assert [await shopper.balance() for shopper in shoppers] == [5000] * 3
    assert await bookstore.available(book) == 10
    await bookstore.check()
