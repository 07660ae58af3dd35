"""Order events from NATS become one message each for the order's user."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from msa import faults
from msa.events import Event
from msa.messaging import Broker
from msa.system import load_system
from msa.tools.apptest import serve_in_process
from msa.tools.testing import PostgresForTests
from orders.contracts import OrderCancelled, OrderConfirmed, OrderLine


@pytest.fixture(scope="module")
async def notifications(msa_postgres: PostgresForTests,
                        msa_nats: str) -> AsyncIterator[httpx.AsyncClient]:
    url = msa_postgres.create_database()
    async with serve_in_process("notifications", database_url=url,
                                nats_url=msa_nats) as http:
        yield http


@pytest.fixture(scope="module")
async def orders(msa_nats: str) -> AsyncIterator[Broker]:
    """Stands in for the orders service: publishes its events as its relay does."""
    broker = Broker(msa_nats, "orders-test")
    await broker.connect()
    await broker.ensure_streams(load_system())
    yield broker
    await broker.close()


async def publish(broker: Broker, event: Event, event_id: uuid.UUID | None = None,
                  msg_id: str | None = None) -> uuid.UUID:
    """Publish with the headers msa's outbox relay sets (see msa.messaging.outbox)."""
    event_id = event_id or uuid.uuid4()
    headers = {"Nats-Msg-Id": msg_id or str(event_id), "Msa-Event-Id": str(event_id),
               "Msa-Event-Type": event.type, "Msa-Aggregate": event.aggregate()}
    await broker.publish(event.type, event.model_dump_json().encode(), headers)
    return event_id


def as_user(user: uuid.UUID, key: str | None = None) -> dict[str, str]:
    headers = {"X-User-Id": str(user), "X-User-Role": "customer"}
    return headers | ({"Idempotency-Key": key} if key else {})


async def inbox_of(http: httpx.AsyncClient, user: uuid.UUID, until: Callable[[Any], bool],
                   query: str = "", seconds: float = 10.0) -> dict[str, Any]:
    """Poll the user's messages until `until(body)` holds."""
    async with asyncio.timeout(seconds):
        while True:
            body = (await http.get(f"/api/notifications{query}", headers=as_user(user))).json()
            if until(body):
                return body
            await asyncio.sleep(0.05)


def confirmed(user: uuid.UUID, order: uuid.UUID | None = None) -> OrderConfirmed:
    lines = [OrderLine(book_id=uuid.uuid4(), quantity=2, price_cents=1299),
             OrderLine(book_id=uuid.uuid4(), quantity=1, price_cents=1599)]
    return OrderConfirmed(order_id=order or uuid.uuid4(), user_id=user, total_cents=4197,
                          lines=lines)


async def per_event(http: httpx.AsyncClient) -> dict[str, int]:
    audit = (await http.get("/internal/notifications/audit")).json()
    return {row["event_id"]: row["count"] for row in audit["events"]}


async def test_a_confirmed_and_a_cancelled_order_each_become_one_message(
        notifications: httpx.AsyncClient, orders: Broker) -> None:
    user, order, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await publish(orders, confirmed(user, order))
    await publish(orders, OrderCancelled(order_id=other, user_id=user,
                                         reason="not enough credit"))
    body = await inbox_of(notifications, user, lambda b: len(b["items"]) == 2)
    texts = {item["kind"]: item["text"] for item in body["items"]}
    assert texts == {
        "confirmed": f"Order {order.hex[:8]} confirmed: 3 books, total €41.97",
        "cancelled": f"Order {other.hex[:8]} cancelled: not enough credit",
    }
    assert body["unread"] == 2 and not any(item["read"] for item in body["items"])


async def test_the_same_event_twice_is_still_one_message(
        notifications: httpx.AsyncClient, orders: Broker) -> None:
    user = uuid.uuid4()
    event_id = await publish(orders, confirmed(user))
    await publish(orders, confirmed(user), event_id)  # dropped by JetStream's window
    await publish(orders, confirmed(user), event_id, msg_id=uuid.uuid4().hex)  # the inbox's
    # the sentinel goes to the same consumer as the repeats (a cancellation has its own
    # consumer, which may run ahead): once it is handled, so are the repeats before it
    sentinel = await publish(orders, confirmed(user))
    await inbox_of(notifications, user, lambda b: len(b["items"]) >= 2)
    counts = await per_event(notifications)
    assert counts[str(event_id)] == 1 and counts[str(sentinel)] == 1
    body = await inbox_of(notifications, user, lambda b: True)
    assert len(body["items"]) == 2


async def test_with_the_inbox_switched_off_the_audit_shows_the_duplicate(
        notifications: httpx.AsyncClient, orders: Broker,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_broken", {faults.INBOX_DEDUPE_OFF})
    user = uuid.uuid4()
    event_id = await publish(orders, confirmed(user))
    await publish(orders, confirmed(user), event_id, msg_id=uuid.uuid4().hex)
    await inbox_of(notifications, user, lambda b: len(b["items"]) == 2)
    assert (await per_event(notifications))[str(event_id)] == 2


async def test_a_user_reads_their_message_but_not_anyone_elses(
        notifications: httpx.AsyncClient, orders: Broker) -> None:
    ada, bo = uuid.uuid4(), uuid.uuid4()
    await publish(orders, confirmed(ada))
    await publish(orders, confirmed(ada))
    body = await inbox_of(notifications, ada, lambda b: len(b["items"]) == 2)
    message = body["items"][0]["id"]

    path = f"/api/notifications/{message}/read"
    assert (await notifications.post(path, headers=as_user(ada))).status_code == 400
    assert (await notifications.post(path)).status_code == 401
    stranger = await notifications.post(path, headers=as_user(bo, "read-1"))
    assert stranger.status_code == 404
    read = await notifications.post(path, headers=as_user(ada, "read-1"))
    assert read.status_code == 200, read.text
    assert read.json()["id"] == message and read.json()["read"] is True
    again = await notifications.post(path, headers=as_user(ada, "read-2"))
    assert again.status_code == 200 and again.json()["read"] is True

    after = await inbox_of(notifications, ada, lambda b: True)
    assert after["unread"] == 1
    unread = await inbox_of(notifications, ada, lambda b: True, query="?unread=true")
    assert [item["id"] for item in unread["items"]] != [message]
    assert len(unread["items"]) == 1
    missing = await notifications.post(f"/api/notifications/{uuid.uuid4()}/read",
                                       headers=as_user(ada, "read-3"))
    assert missing.status_code == 404
