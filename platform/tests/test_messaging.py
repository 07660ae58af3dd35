"""Outbox, relay, inbox and dead letters on real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select, text

from msa import dlq
from msa.db import driver
from msa.errors import ConfigError
from msa.events import Event
from msa.messaging import Delivery, emit, subscribe
from msa.service import ServiceDefinition
from msa.settings import ServiceSettings
from msa.system import parse_system
from msa.tables import outbox
from msa.tools.apptest import run_app


class Pinged(Event):
    type = "pinger.ping.sent.v1"
    n: int


class Ponged(Event):
    """An event no service in `make_system` declares."""

    type = "pinger.pong.sent.v1"


def make_system(suffix: str):
    return parse_system(f"""
[system]
name = "pingpong"
gateway = "pinger"
[teams.t]
[services.pinger]
team = "t"
app = "x:y"
port = 20000
publishes = ["pinger.ping.sent.v1"]
[services.ponger{suffix}]
team = "t"
app = "x:y"
port = 20001
consumes = ["pinger.ping.sent.v1"]
""")


def make_apps(system, consumer, handler, postgres, nats_url):
    """The publishing service and the consuming one, each on its own database."""
    apps = []
    for name, consumers in (("pinger", []), (consumer, [handler])):
        apps.append(ServiceDefinition(name, consumers=consumers).create_app(ServiceSettings(
            service=name, env="test", nats_url=nats_url,
            database_url=postgres.create_database()), system=system))
    return apps


async def wait_for(condition, timeout=15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def suffix():
    return uuid.uuid4().hex[:8]


async def test_events_flow_exactly_once_and_failures_are_dead_lettered_and_replayed(
        msa_postgres, msa_nats, suffix):
    system = make_system(suffix)
    consumer = f"ponger{suffix}"
    handled: list[int] = []
    broken = {2}

    @subscribe("pinger.ping.sent.v1", max_attempts=2)
    async def on_ping(delivery: Delivery, event: Pinged) -> None:
        if event.n in broken:
            raise RuntimeError(f"cannot handle ping {event.n}")
        handled.append(event.n)

    pinger, ponger = make_apps(system, consumer, on_ping, msa_postgres, msa_nats)

    async with run_app(pinger) as pinger_http, run_app(ponger):
        engine = pinger.state.runtime.db
        async with engine.begin() as conn:
            for n in (1, 2, 3):
                await emit(conn, Pinged(n=n))
        # a batch that fails (ping 2) rolls back and is handled again one event at a
        # time: a handler's effects outside its transaction (this list) may repeat
        await wait_for(lambda: set(handled) == {1, 3})

        letters: list[dlq.DeadLetter] = []
        for _ in range(100):
            letters = [d for d in await dlq.list_dead_letters(msa_nats)
                       if d.consumer.startswith(consumer)]
            if letters:
                break
            await asyncio.sleep(0.1)
        assert [d.event_type for d in letters] == ["pinger.ping.sent.v1"]
        assert "cannot handle ping 2" in letters[0].reason

        broken.clear()
        handled.clear()
        assert await dlq.replay(msa_nats, [letters[0].seq]) == 1
        await wait_for(lambda: handled == [2])
        async with ponger.state.runtime.db.connect() as conn:
            seen = (await conn.execute(text(
                "SELECT count(*), count(DISTINCT event_id) FROM msa_inbox"))).one()
        assert tuple(seen) == (3, 3)

        status = (await pinger_http.get("/internal/outbox")).json()
        assert status["unpublished"] == 0
        marked = await pinger_http.post("/internal/outbox/republish",
                                        json={"first_id": 1, "last_id": status["last_id"]})
        assert marked.json()["marked"] == 3
        # within the broker's duplicate window the copies are dropped by JetStream itself;
        # test_outbox_relay re-drives past it, to the consumers' inboxes
        await asyncio.sleep(1.5)
        assert handled == [2]
        assert (await pinger_http.get("/internal/outbox")).json()["unpublished"] == 0


async def test_a_fetched_batch_is_handled_in_one_transaction_each_event_once(
        msa_postgres, msa_nats, suffix):
    system = make_system(suffix)
    consumer = f"ponger{suffix}"
    handled: list[int] = []
    transactions: list[int] = []
    base = uuid.uuid4().int % 10**9 * 10  # the stream also holds other tests' pings

    @subscribe("pinger.ping.sent.v1")
    async def on_ping(delivery: Delivery, event: Pinged) -> None:
        if not base <= event.n < base + 10:
            return
        handled.append(event.n - base)
        raw = await driver(delivery.conn)
        transactions.append(await raw.fetchval("SELECT txid_current()"))

    pinger, ponger = make_apps(system, consumer, on_ping, msa_postgres, msa_nats)

    async with run_app(pinger) as pinger_http:
        async with pinger.state.runtime.db.begin() as conn:
            first = await emit(conn, Pinged(n=base + 1))
            for n in range(2, 7):
                await emit(conn, Pinged(n=base + n))
        await wait_for_async(pinger_http, 0)
        # the first event again, as a relay resends it past the broker's duplicate window
        broker = pinger.state.runtime.broker
        await broker.publish("pinger.ping.sent.v1", Pinged(n=base + 1).model_dump_json().encode(),
                             {"Nats-Msg-Id": str(uuid.uuid4()), "Msa-Event-Id": str(first)})
        async with run_app(ponger):  # its first fetch finds all seven waiting
            await wait_for(lambda: len(handled) >= 6)
            await asyncio.sleep(0.5)
    assert sorted(handled) == [1, 2, 3, 4, 5, 6]
    assert len(set(transactions)) < len(transactions)  # handled together


async def wait_for_async(http, unpublished: int, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await http.get("/internal/outbox")).json()["unpublished"] != unpublished:
        assert loop.time() < deadline, "the relay did not publish in time"
        await asyncio.sleep(0.05)


async def test_a_bad_republish_range_is_refused(msa_postgres, msa_nats, suffix):
    system = make_system(suffix)
    pinger = ServiceDefinition("pinger").create_app(ServiceSettings(
        service="pinger", env="test", nats_url=msa_nats,
        database_url=msa_postgres.create_database()), system=system)
    async with run_app(pinger) as http:
        response = await http.post("/internal/outbox/republish",
                                   json={"first_id": 5, "last_id": 2})
        assert response.status_code == 422


async def test_a_subscription_to_an_event_the_service_does_not_consume_is_refused(suffix):
    system = make_system(suffix)
    consumer = f"ponger{suffix}"

    @subscribe("pinger.ping.sent.v1")
    async def on_ping(delivery: Delivery, event: Pinged) -> None: ...

    @subscribe("pinger.pong.sent.v1")
    async def on_pong(delivery: Delivery, event: Ponged) -> None: ...

    settings = ServiceSettings(service=consumer, env="test",
                               database_url="postgresql://u:not-used-1@127.0.0.1:1/u")
    with pytest.raises(ConfigError) as refused:
        ServiceDefinition(consumer, consumers=[on_ping, on_pong]).create_app(
            settings, system=system)
    message = str(refused.value)
    assert "\n" not in message
    assert "'pinger.pong.sent.v1'" in message
    assert f"services.{consumer}.consumes" in message
    assert "'pinger.ping.sent.v1'" not in message  # the declared one is fine


async def test_emit_refuses_an_event_the_service_does_not_publish(msa_postgres, msa_nats, suffix):
    system = make_system(suffix)
    pinger = ServiceDefinition("pinger").create_app(ServiceSettings(
        service="pinger", env="test", nats_url=msa_nats,
        database_url=msa_postgres.create_database()), system=system)
    async with run_app(pinger):
        engine = pinger.state.runtime.db
        with pytest.raises(ConfigError, match=r"pinger: emits 'pinger.pong.sent.v1'.*publishes"):
            async with engine.begin() as conn:
                await emit(conn, Pinged(n=1))
                await emit(conn, Ponged())
        async with engine.begin() as conn:
            await emit(conn, Pinged(n=2))
        async with engine.connect() as conn:
            # the refused transaction left nothing behind; the declared event is in
            rows = (await conn.execute(select(outbox.c.event_type, func.count())
                                       .group_by(outbox.c.event_type))).all()
        assert [tuple(row) for row in rows] == [("pinger.ping.sent.v1", 1)]
