"""The outbox relay on real PostgreSQL and NATS: wake-ups, per-aggregate order, re-drives.

Each test has a publisher of its own (`pub<suffix>`), hence a stream of its own, so
what a test finds in the stream is what it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import nats
import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from nats.js import JetStreamContext
from sqlalchemy import func, select

from msa import Conflict, IdempotencyKey, db, get_runtime, run_idempotent
from msa.events import Event, stream_name
from msa.messaging import Broker, Delivery, emit, outbox, subscribe
from msa.runtime import Runtime
from msa.service import ServiceDefinition
from msa.settings import ServiceSettings
from msa.system import System, parse_system
from msa.tables import inbox
from msa.tables import outbox as outbox_table
from msa.tools.apptest import run_app

LONG_POLL = 60.0  # far longer than any bound below: only a NOTIFY can wake the relay in time


def make_system(publisher: str, consumer: str) -> System:
    return parse_system(f"""
[system]
name = "relaytest"
gateway = "{publisher}"
[teams.t]
[services.{publisher}]
team = "t"
app = "x:y"
port = 21000
publishes = ["{publisher}.ping.sent.v1"]
[services.{consumer}]
team = "t"
app = "x:y"
port = 21001
consumes = ["{publisher}.ping.sent.v1"]
""")


def ping_event(publisher: str) -> type[Event]:
    """The event type of this test's publisher (registered like any contract)."""

    class Ping(Event):
        type = f"{publisher}.ping.sent.v1"
        n: int
        key: str = "a"

        def aggregate(self) -> str:
            return self.key

    return Ping


async def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.05)


@dataclass
class Names:
    publisher: str
    consumer: str
    system: System
    ping: type[Event]

    @property
    def stream(self) -> str:
        return stream_name(self.publisher)


@pytest.fixture
async def names(msa_nats: str) -> AsyncIterator[Names]:
    suffix = uuid.uuid4().hex[:8]
    publisher, consumer = f"pub{suffix}", f"sub{suffix}"
    yield Names(publisher, consumer, make_system(publisher, consumer), ping_event(publisher))
    nc = await nats.connect(msa_nats)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(stream_name(publisher))
    finally:
        await nc.close()


@pytest.fixture
async def js(msa_nats: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(msa_nats)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def stream_events(js: JetStreamContext, stream: str) -> list[tuple[str, int]]:
    """(aggregate, n) of every message in `stream`, in stream order."""
    import json

    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        found.append(((msg.headers or {})["Msa-Aggregate"], json.loads(msg.data or b"{}")["n"]))
    return found


async def unpublished(runtime: Runtime) -> int:
    async with runtime.db.connect() as conn:
        query = select(func.count()).where(outbox_table.c.published_at.is_(None))
        return int((await conn.execute(query)).scalar_one())


def publisher_app(names: Names, msa_postgres: Any, msa_nats: str,
                  **definition: Any) -> Any:
    return ServiceDefinition(names.publisher, **definition).create_app(ServiceSettings(
        service=names.publisher, env="test", nats_url=msa_nats,
        database_url=msa_postgres.create_database()), system=names.system)


@contextlib.asynccontextmanager
async def relay_alone(names: Names, msa_postgres: Any, msa_nats: str
                      ) -> AsyncIterator[Runtime]:
    """A migrated database and a connected broker, but no relay yet: the test starts it
    with `runtime.spawn("relay", partial(outbox.run_relay, runtime, port))`."""
    settings = ServiceSettings(service=names.publisher, env="test", nats_url=msa_nats,
                               database_url=msa_postgres.create_database())
    runtime = Runtime(ServiceDefinition(names.publisher), settings, names.system)
    assert settings.database_url is not None
    runtime.engine = db.create_engine(settings.database_url.get_secret_value(), pool_size=2)
    runtime.broker = Broker(msa_nats, f"{names.publisher}-relay-test")
    try:
        await db.migrate(runtime.engine, None)
        await runtime.broker.connect()
        await runtime.broker.ensure_stream(names.stream, [f"{names.publisher}.>"])
        yield runtime
    finally:
        await runtime.close()


# -- 1. a commit wakes the relay, and no wake is lost during a drain ----------------------


async def test_events_committed_one_after_another_are_published_without_waiting_for_the_poll(
        msa_postgres, msa_nats, names, js, monkeypatch):
    monkeypatch.setattr(outbox, "POLL_SECONDS", LONG_POLL)
    app = publisher_app(names, msa_postgres, msa_nats)
    async with run_app(app):
        runtime: Runtime = app.state.runtime

        async def all_published() -> bool:
            return await unpublished(runtime) == 0

        # pairs of commits, the second a little later each time, so that some of them
        # land while the relay is draining the first
        pairs = 40
        for pair in range(pairs):
            async with runtime.db.begin() as conn:
                await emit(conn, names.ping(n=2 * pair + 1))
            await asyncio.sleep(pair * 0.00025)
            async with runtime.db.begin() as conn:
                await emit(conn, names.ping(n=2 * pair + 2))
            await wait_for(all_published, timeout=10.0, what=f"pair {pair} published")
        sent = [n for _, n in await stream_events(js, names.stream)]
        assert sent == list(range(1, 2 * pairs + 1))


@dataclass
class HeldFirstPublish:
    """A publish port that holds its first publish until released (then passes through)."""

    inner: Broker
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0

    async def publish(self, subject: str, data: bytes, headers: dict[str, Any]) -> bool:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            await self.release.wait()
        return await self.inner.publish(subject, data, headers)


async def test_a_commit_during_a_drain_wakes_the_relay_again(
        msa_postgres, msa_nats, names, monkeypatch):
    monkeypatch.setattr(outbox, "POLL_SECONDS", LONG_POLL)
    async with relay_alone(names, msa_postgres, msa_nats) as runtime:
        assert runtime.broker is not None
        port = HeldFirstPublish(runtime.broker)
        runtime.spawn("relay", partial(outbox.run_relay, runtime, port))
        async with runtime.db.begin() as conn:
            await emit(conn, names.ping(n=1))
        await asyncio.wait_for(port.started.wait(), 10.0)  # the relay is mid-drain
        async with runtime.db.begin() as conn:
            await emit(conn, names.ping(n=2))  # its NOTIFY arrives during the drain
        await asyncio.sleep(0.3)  # let the NOTIFY reach the relay's connection
        port.release.set()

        async def both_published() -> bool:
            return await unpublished(runtime) == 0

        await wait_for(both_published, timeout=10.0, what="the second event published")


async def test_a_published_batch_is_marked_by_the_next_fetch(
        msa_postgres, msa_nats, names, js):
    async with relay_alone(names, msa_postgres, msa_nats) as runtime:
        assert runtime.broker is not None
        conn = await asyncpg.connect(outbox._dsn(runtime))
        try:
            async with runtime.db.begin() as db_conn:
                for n in (1, 2):
                    await emit(db_conn, names.ping(n=n))
            fetched, sent, unmarked = await outbox._drain_once(runtime, conn, runtime.broker)
            assert (fetched, sent, len(unmarked)) == (2, 2, 2)
            assert await unpublished(runtime) == 2  # published, not yet marked

            async with runtime.db.begin() as db_conn:
                await emit(db_conn, names.ping(n=3))
            fetched, sent, left = await outbox._drain_once(runtime, conn, runtime.broker,
                                                           unmarked)
            # the fetch marked the first two (and did not fetch them again)
            assert (fetched, sent, len(left)) == (1, 1, 1)
            assert await unpublished(runtime) == 1

            assert await outbox._drain_once(runtime, conn, runtime.broker, left) == (0, 0, [])
            assert await unpublished(runtime) == 0
        finally:
            await conn.close()
        assert [n for _, n in await stream_events(js, names.stream)] == [1, 2, 3]


# -- 2. a failed publish does not let later events of its aggregate overtake it ----------


@dataclass
class FailsOnce:
    """A publish port whose k-th publish fails (nothing sent), once; the rest pass through."""

    inner: Broker
    k: int
    calls: int = 0

    async def publish(self, subject: str, data: bytes, headers: dict[str, Any]) -> bool:
        self.calls += 1
        if self.calls == self.k:
            raise ConnectionError("broker connection lost (test)")
        return await self.inner.publish(subject, data, headers)


@pytest.mark.parametrize("k", [2, 5])
async def test_a_failed_publish_keeps_the_order_of_its_aggregate_in_the_stream(
        msa_postgres, msa_nats, names, js, k):
    async with relay_alone(names, msa_postgres, msa_nats) as runtime:
        assert runtime.broker is not None
        async with runtime.db.begin() as conn:  # one batch: a1 b1 c1 a2 b2 c2 ...
            for n in range(1, 5):
                for key in "abc":
                    await emit(conn, names.ping(n=n, key=key))
        port = FailsOnce(runtime.broker, k)
        runtime.spawn("relay", partial(outbox.run_relay, runtime, port))

        async def all_published() -> bool:
            return await unpublished(runtime) == 0

        await wait_for(all_published, timeout=15.0, what="every event published")
        assert port.calls > 12  # the failed one was sent again

        sent = await stream_events(js, names.stream)
        for key in "abc":
            assert [n for aggregate, n in sent if aggregate == key] == [1, 2, 3, 4], sent


# -- 3. a re-drive outside the broker's duplicate window reaches consumers again ---------


async def test_events_republished_after_the_duplicate_window_are_delivered_and_skipped_by_the_inbox(
        msa_postgres, msa_nats, names, js):
    handled: list[int] = []

    @subscribe(names.ping.type)
    async def on_ping(delivery: Delivery, event: Any) -> None:
        handled.append(event.n)

    pub = publisher_app(names, msa_postgres, msa_nats)
    sub = ServiceDefinition(names.consumer, consumers=[on_ping]).create_app(ServiceSettings(
        service=names.consumer, env="test", nats_url=msa_nats,
        database_url=msa_postgres.create_database()), system=names.system)
    durable = on_ping.consumer_name(names.consumer)

    async with run_app(pub) as pub_http, run_app(sub):
        # a short duplicate window, so the copies below are not dropped by the broker
        config = (await js.stream_info(names.stream)).config
        config.duplicate_window = 0.5
        await js.update_stream(config)

        async with pub.state.runtime.db.begin() as conn:
            for n in (1, 2, 3):
                await emit(conn, names.ping(n=n))

        async def consumer_acked(last_seq: int) -> bool:
            info = await js.consumer_info(names.stream, durable)
            return info.ack_floor is not None and info.ack_floor.stream_seq == last_seq

        await wait_for(partial(consumer_acked, 3), timeout=15.0, what="first delivery")
        assert sorted(handled) == [1, 2, 3]

        await asyncio.sleep(1.0)  # past the duplicate window
        last_id = (await pub_http.get("/internal/outbox")).json()["last_id"]
        marked = await pub_http.post("/internal/outbox/republish",
                                     json={"first_id": 1, "last_id": last_id})
        assert marked.json()["marked"] == 3

        # the copies are in the stream and the consumer took and acked every one ...
        await wait_for(partial(consumer_acked, 6), timeout=15.0, what="copies delivered")
        assert [n for _, n in await stream_events(js, names.stream)] == [1, 2, 3, 1, 2, 3]
        # ... but its inbox skipped them: each effect happened once
        assert sorted(handled) == [1, 2, 3]
        async with sub.state.runtime.db.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(inbox)
                                       .where(inbox.c.consumer == durable))).scalar_one()
        assert rows == 3


# -- 4. events of an idempotent request are written with its key, in one statement ------


def pinging_router(names: Names) -> APIRouter:
    router = APIRouter()

    @router.post("/internal/pings")
    async def ping(request: Request, key: IdempotencyKey, body: dict[str, Any],
                   rt: Runtime = Depends(get_runtime)) -> JSONResponse:
        async def work(conn: Any) -> dict[str, Any]:
            for n in body["ns"]:
                await emit(conn, names.ping(n=n))
            if body.get("refuse"):
                raise Conflict("refused after emitting")
            return {"sent": body["ns"]}

        return await run_idempotent(rt, request, key, body, work, status=201)

    return router


async def outbox_ns(runtime: Runtime) -> list[int]:
    async with runtime.db.connect() as conn:
        rows = await conn.execute(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [row.payload["n"] for row in rows]


async def test_an_idempotent_requests_events_are_written_with_its_key_in_emit_order(
        msa_postgres, msa_nats, names, monkeypatch):
    monkeypatch.setattr(outbox, "POLL_SECONDS", LONG_POLL)
    app = publisher_app(names, msa_postgres, msa_nats, routers=[pinging_router(names)])
    async with run_app(app) as http:
        runtime: Runtime = app.state.runtime
        first = await http.post("/internal/pings", json={"ns": [3, 1, 2]},
                                headers={"Idempotency-Key": "k1"})
        assert first.status_code == 201, first.text
        again = await http.post("/internal/pings", json={"ns": [3, 1, 2]},
                                headers={"Idempotency-Key": "k1"})
        assert again.headers["Idempotent-Replayed"] == "true"
        refused = await http.post("/internal/pings", json={"ns": [9], "refuse": True},
                                  headers={"Idempotency-Key": "k2"})
        assert refused.status_code == 409
        # once, in the order emitted; the refused request's event rolled back with it
        assert await outbox_ns(runtime) == [3, 1, 2]
