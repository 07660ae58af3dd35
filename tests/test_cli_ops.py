"""`msa check`, `msa sagas` and `msa dlq` against a running bookstore, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from bookstore.invariants import CHECKS
from msa import dlq
from msa.checks import messaging_quiet
from orders.saga import CHECKOUT
from tests.shop import (
    Bookstore,
    Shopper,
    leases_lost,
    operator_call,
    pause_a_saga_driver,
    resume_driver,
    saga_ended,
)

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


def msa(bookstore: Bookstore, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MSA_DATA_DIR": str(bookstore.runner.data_dir), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "msa.tools.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120)


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What a command printed, with its line wrapping undone."""
    return " ".join(done.stdout.split())


async def placed_order(shopper: Shopper) -> dict:
    for _ in range(300):
        response = await shopper.call("GET", "/api/orders")
        if response.status_code == 200 and response.json():
            return await shopper.order(response.json()[0]["id"])
        await asyncio.sleep(0.05)
    raise AssertionError("the order was never placed")


async def quiet(bookstore: Bookstore, timeout: float = 30) -> None:
    runner = bookstore.runner
    drained = messaging_quiet(runner.system.publishers, runner.nats_url)
    busy = await CHECKS.wait_quiet(bookstore.access, timeout, also=[drained])
    assert busy is None, busy


async def test_msa_check_passes_on_a_used_system_and_prints_its_counts(bookstore: Bookstore):
    book = await bookstore.new_book(copies=2)
    buyer = await bookstore.customer(credit=5000)
    await buyer.add_to_cart(book)
    await buyer.settled((await buyer.checkout()).json()["id"])

    done = msa(bookstore, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("money", "stock", "orders", "events"):
        assert f"ok {name}:" in done.stdout
    as_json = json.loads(msa(bookstore, "check", "--json").stdout)
    assert all(result["ok"] for result in as_json["results"])
    assert {r["name"]: r for r in as_json["results"]}["orders"]["counts"]["confirmed"] >= 1


async def test_msa_sagas_lists_and_shows_a_saga(bookstore: Bookstore):
    book = await bookstore.new_book(copies=1)
    buyer = await bookstore.customer(credit=5000)
    await buyer.add_to_cart(book)
    order = await buyer.settled((await buyer.checkout()).json()["id"])

    listed = msa(bookstore, "sagas", "list", "--status", "completed")
    assert listed.returncode == 0, listed.stderr
    assert "completed" in listed.stdout
    shown = msa(bookstore, "sagas", "show", order["saga_id"])
    assert shown.returncode == 0, shown.stderr
    assert "commit_stock" in shown.stdout
    refused = msa(bookstore, "sagas", "compensate", order["saga_id"])
    assert refused.returncode == 1
    assert refused.stderr.startswith("msa: ") and "Traceback" not in refused.stderr


async def test_msa_dlq_lists_dead_letters(bookstore: Bookstore):
    done = msa(bookstore, "dlq", "list")
    assert done.returncode == 0, done.stderr
    assert "dead letter(s)" in done.stdout


async def test_an_unknown_saga_service_is_one_line(bookstore: Bookstore):
    done = msa(bookstore, "sagas", "list", "--service", "ghost")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "unknown service 'ghost'" in done.stderr


async def test_msa_sagas_retry_takes_a_stuck_saga_from_its_paused_driver_at_once(
        bookstore: Bookstore):
    # `msa sagas` asks orders-0: the saga is driven by orders-1, which stops mid-saga
    lost_before = await leases_lost(bookstore.runner.addresses["orders"][1])
    paused = await pause_a_saga_driver(bookstore, 1, "saga.debit_wallet.done")
    try:
        stuck = msa(bookstore, "sagas", "list", "--status", "running")
        assert stuck.returncode == 0, stuck.stderr
        assert paused.saga_id in stuck.stdout

        retried = msa(bookstore, "sagas", "retry", paused.saga_id)
        asked = time.monotonic()
        assert retried.returncode == 0, retried.stderr
        assert f"saga {paused.saga_id} is running; it will be driven at once" in said(retried)
        saga = await saga_ended(bookstore, paused.other_url, paused.saga_id, timeout=10)
        took = time.monotonic() - asked
    finally:
        await resume_driver(bookstore, paused)

    assert saga["status"] == "completed" and saga["owner"].startswith("orders-0:")
    assert took < CHECKOUT.lease / 2, f"{took:.1f}s: as slow as waiting out the lease"
    for _ in range(100):  # the woken driver's write is refused
        if await leases_lost(paused.url) > lost_before:
            break
        await asyncio.sleep(0.05)
    assert await leases_lost(paused.url) > lost_before
    order = await paused.shopper.settled(saga["data"]["order_id"])
    assert order["status"] == "CONFIRMED"
    assert await paused.shopper.balance() == 4000
    await bookstore.check()


async def test_msa_sagas_compensate_cancels_a_running_checkout_and_gives_the_money_back(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=3, price_cents=1000)
    buyer = await bookstore.customer(credit=5000)
    await buyer.add_to_cart(book, 2)
    began = datetime.now().astimezone()
    bookstore.runner.kill("ledger-0", signal.SIGSTOP)  # the saga waits at credit_revenue
    try:
        checkout = asyncio.create_task(buyer.checkout())
        order = await placed_order(buyer)
        for _ in range(200):
            saga = await bookstore.access.get("orders", f"/internal/sagas/{order['saga_id']}")
            if saga["step"] == 2:
                break
            await asyncio.sleep(0.05)
        assert saga["step"] == 2 and saga["status"] == "running", saga
        assert await buyer.balance() == 3000  # the money is taken

        done = msa(bookstore, "sagas", "compensate", order["saga_id"])
        assert done.returncode == 0, done.stderr
        assert f"saga {order['saga_id']} is compensating" in said(done)
    finally:
        bookstore.runner.kill("ledger-0", signal.SIGCONT)
    await checkout

    order = await buyer.settled(order["id"])
    assert order["status"] == "CANCELLED"
    assert order["reason"] == "compensated by an operator"
    assert await buyer.balance() == 5000
    assert await bookstore.available(book) == 3
    # the order shows each step of its saga with its time and outcome, in order
    assert [(s["step"], s["direction"], s["outcome"]) for s in order["steps"]] == [
        ("reserve_stock", "action", "ok"), ("debit_wallet", "action", "ok"),
        ("credit_revenue", "compensation", "ok"), ("debit_wallet", "compensation", "ok"),
        ("reserve_stock", "compensation", "ok")]
    times = [datetime.fromisoformat(s["at"]) for s in order["steps"]]
    assert times == sorted(times)
    assert began <= times[0] and times[-1] <= datetime.now().astimezone()
    await bookstore.check()


async def test_msa_dlq_replay_delivers_a_dead_letter_again_and_its_effect_stays_once(
        bookstore: Bookstore):
    notifications = bookstore.runner.addresses["notifications"]
    for url in notifications:  # every delivery fails after the effect, until disarmed
        await operator_call(bookstore, url, "POST", "/internal/faults",
                            {"points": "fail:consumer.after_commit"})
    try:
        book = await bookstore.new_book(copies=1)
        buyer = await bookstore.customer(credit=5000)
        await buyer.add_to_cart(book)
        order = await buyer.settled((await buyer.checkout()).json()["id"])
        assert order["status"] == "CONFIRMED"
        letter = None
        for _ in range(300):
            letter = next((d for d in await dlq.list_dead_letters(bookstore.runner.nats_url)
                           if order["id"] in d.data.decode(errors="replace")), None)
            if letter:
                break
            await asyncio.sleep(0.1)
        assert letter is not None, "the failing consumer never dead-lettered the event"
        assert letter.event_type == "orders.order.confirmed.v1"
        assert "InjectedFault" in letter.reason
    finally:
        for url in notifications:
            await operator_call(bookstore, url, "DELETE", "/internal/faults")

    listed = msa(bookstore, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert letter.event_id in listed.stdout
    replayed = msa(bookstore, "dlq", "replay", "--seq", str(letter.seq))
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letter(s)" in said(replayed)

    await quiet(bookstore)  # the replayed event delivered and acknowledged
    left = [d for d in await dlq.list_dead_letters(bookstore.runner.nats_url)
            if d.event_id == letter.event_id]
    assert left == []
    inbox = (await buyer.call("GET", "/api/notifications")).json()["items"]
    assert [m["order_id"] for m in inbox] == [order["id"]]  # the effect once, not twice
    await bookstore.check()
