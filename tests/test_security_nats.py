"""NATS refuses what a service's declared events do not allow: forged publishes, foreign
subscriptions and connections without credentials (against the running bookstore's
NATS, as the probe found it open)."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest

from msa import nats_auth
from msa.events import stream_name
from tests.shop import Bookstore

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)
FORGED = "reviews.rating.changed.v1"


def bare_url(bookstore: Bookstore) -> str:
    return bookstore.runner.servers.nats.url  # no credentials


async def connect_as(bookstore: Bookstore, user: str) -> tuple[nats.NATS, list[str]]:
    """A connection as `user` with its own password; the errors NATS sends it."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    login = nats_auth.credentials(bookstore.runner.data_dir, user)
    assert login is not None, f"no NATS password for {user}"
    nc = await nats.connect(bare_url(bookstore), user=login[0], password=login[1],
                            inbox_prefix=nats_auth.inbox_prefix(user), error_cb=on_error,
                            allow_reconnect=False, connect_timeout=2)
    return nc, errors


async def last_sequence(bookstore: Bookstore, stream: str) -> int:
    nc = await nats.connect(bookstore.runner.nats_url, allow_reconnect=False)  # the operator
    try:
        return int((await nc.jetstream().stream_info(stream)).state.last_seq)
    finally:
        await nc.close()


async def forge(nc: nats.NATS) -> None:
    body = json.dumps({"book_id": "00000000-0000-0000-0000-000000000007", "average": 1.0,
                       "count": 4242}).encode()
    await nc.publish(FORGED, body, headers={"Msa-Event-Id": "forged-1",
                                           "Msa-Event-Type": FORGED, "Nats-Msg-Id": "forged-1"})
    await nc.flush()
    await asyncio.sleep(0.2)  # the server's -ERR arrives after the flush's PONG at the latest


async def test_a_connection_without_credentials_is_refused(bookstore: Bookstore):
    port = bookstore.runner.servers.nats.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        info = await reader.readline()
        assert info.startswith(b"INFO ") and json.loads(info[5:])["auth_required"] is True
        writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\n'
                     b"PUB reviews.rating.changed.v1 2\r\n{}\r\nPING\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert answer.strip() == b"-ERR 'Authorization Violation'"


async def test_a_service_cannot_publish_an_event_it_does_not_declare(bookstore: Bookstore):
    stream = stream_name("reviews")
    before = await last_sequence(bookstore, stream)
    nc, errors = await connect_as(bookstore, "inventory")  # publishes only stock changes
    try:
        await forge(nc)
    finally:
        await nc.close()
    assert any("permissions violation" in e.lower() and FORGED in e for e in errors), errors
    assert await last_sequence(bookstore, stream) == before  # nothing reached the stream


async def test_a_service_cannot_read_events_it_does_not_consume(bookstore: Bookstore):
    nc, errors = await connect_as(bookstore, "inventory")
    try:
        await nc.subscribe("orders.order.confirmed.v1")
        await nc.flush()
        await asyncio.sleep(0.2)
        with pytest.raises(nats.errors.TimeoutError):  # the server drops the request
            await nc.jetstream(timeout=2).add_consumer(stream_name("orders"), durable_name="spy")
    finally:
        await nc.close()
    assert any("permissions violation for subscription" in e.lower() for e in errors), errors
    assert any("permissions violation for publish" in e.lower() and "consumer" in e.lower()
               for e in errors), errors


async def test_the_publisher_itself_may_publish_its_event(bookstore: Bookstore):
    nc, errors = await connect_as(bookstore, "reviews")
    try:
        await nc.subscribe(f"{nats_auth.inbox_prefix('reviews')}.probe")
        await nc.flush()
    finally:
        await nc.close()
    assert errors == []
