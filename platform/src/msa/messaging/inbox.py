"""Consumers with an inbox: each event's effect happens exactly once.

A subscription is a handler for one event type. For each delivered message the
consumer, in ONE transaction, records `(consumer, event_id)` in the inbox and runs
the handler; a duplicate finds its inbox row and is only acked. After
`max_attempts` failed deliveries the message goes to the dead-letter stream on
subject `dlq.<consumer>` (its original subject and the reason in `Msa-Dlq-*`
headers), from which `msa dlq replay` re-publishes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import faults
from msa.db import database_unreachable, driver
from msa.events import DLQ_SUBJECT_PREFIX, Event, event_class, stream_name
from msa.metrics import DEAD_LETTERS
from msa.tracing import consumer_span

if TYPE_CHECKING:
    from msa.runtime import Runtime

_log = logging.getLogger("msa.inbox")


@dataclass(frozen=True)
class Delivery:
    """What a handler gets besides the event: the transaction and where it came from."""

    conn: AsyncConnection
    runtime: Runtime
    event_id: uuid.UUID
    event_type: str
    attempt: int


Handler = Callable[[Delivery, Any], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """`handler` runs once per event of `event_type` for consumer `name`."""

    event_type: str
    handler: Handler
    name: str = ""
    max_attempts: int = 5
    batch: int = 64

    def consumer_name(self, service: str) -> str:
        return self.name or f"{service}__{self.event_type.replace('.', '_')}"


def subscribe(event_type: str, *, name: str = "", max_attempts: int = 5
              ) -> Callable[[Handler], Subscription]:
    """Decorator: turn `async def handler(delivery, event)` into a Subscription."""

    def wrap(handler: Handler) -> Subscription:
        return Subscription(event_type, handler, name=name, max_attempts=max_attempts)

    return wrap


async def run_consumer(runtime: Runtime, sub: Subscription) -> None:
    """Pull and handle `sub`'s events forever."""
    broker = runtime.broker
    assert broker is not None
    durable = sub.consumer_name(runtime.name)
    publisher = sub.event_type.split(".", 1)[0]
    psub = await broker.js.pull_subscribe(
        sub.event_type,
        durable=durable,
        stream=stream_name(publisher),
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30,
            max_deliver=-1,
            max_ack_pending=1000,
        ),
    )
    while True:
        try:
            messages = await psub.fetch(sub.batch, timeout=1.0)
        except (NatsTimeout, TimeoutError):
            continue
        if len(messages) > 1 and await handle_together(runtime, sub, durable, messages):
            continue
        for msg in messages:
            await handle_message(runtime, sub, durable, msg)


async def handle_together(runtime: Runtime, sub: Subscription, consumer: str,
                          messages: list[Msg]) -> bool:
    """Handle a fetched batch in ONE transaction: the inbox rows of all its events in
    one statement, each new event's handler (in its consumer span), one commit, then
    the acks. False when anything in it failed (the transaction rolled back, nothing
    acked): the caller then handles each message on its own, with its own retries and
    dead-lettering, as if the batch had never been tried.

    Under load a fetch brings several events, and they cost one BEGIN, one inbox
    statement and one COMMIT together instead of one each.
    """
    try:
        decoded = [(msg, uuid.UUID((msg.headers or {}).get("Msa-Event-Id", "")),
                    _decode(sub.event_type, msg.data)) for msg in messages]
        async with runtime.db.begin() as conn:
            firsts = await _first_times(conn, consumer,
                                        [event_id for _, event_id, _ in decoded],
                                        sub.event_type)
            for (msg, event_id, event), first in zip(decoded, firsts, strict=True):
                if first:
                    with consumer_span(runtime.name, msg.subject, consumer, msg.headers or {}):
                        await sub.handler(Delivery(conn, runtime, event_id, sub.event_type,
                                                   msg.metadata.num_delivered or 1), event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _log.info("a batch of %d events failed together (%s): one at a time",
                  len(messages), type(exc).__name__)
        return False
    faults.point("consumer.after_commit")  # effects committed, not yet acked
    for msg in messages:
        await msg.ack()
    return True


async def handle_message(runtime: Runtime, sub: Subscription, consumer: str, msg: Msg) -> None:
    """Handle one delivery inside a consumer span that continues the publisher's trace."""
    with consumer_span(runtime.name, msg.subject, consumer, msg.headers or {}):
        await _handle(runtime, sub, consumer, msg)


async def _handle(runtime: Runtime, sub: Subscription, consumer: str, msg: Msg) -> None:
    headers = msg.headers or {}
    attempt = msg.metadata.num_delivered or 1
    try:
        event_id = uuid.UUID(headers.get("Msa-Event-Id", ""))
    except ValueError:
        await _dead_letter(runtime, consumer, msg, "message has no valid Msa-Event-Id")
        return
    try:
        event = _decode(sub.event_type, msg.data)
        async with runtime.db.begin() as conn:
            if await _first_time(conn, consumer, event_id, sub.event_type):
                await sub.handler(Delivery(conn, runtime, event_id, sub.event_type, attempt), event)
        faults.point("consumer.after_commit")  # effect committed, not yet acked
        await msg.ack()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # a database that is restarting is no fault of the message: retry, never dead-letter
        if attempt >= sub.max_attempts and not database_unreachable(exc):
            _log.error("event %s failed %d times: dead-lettered", event_id, attempt,
                       exc_info=True)
            await _dead_letter(runtime, consumer, msg, f"{type(exc).__name__}: {exc}")
        else:
            _log.warning("event %s failed (attempt %d): %s", event_id, attempt, exc)
            await msg.nak(delay=min(0.2 * 2**attempt, 10.0))


async def _first_time(conn: AsyncConnection, consumer: str, event_id: uuid.UUID,
                      event_type: str) -> bool:
    return (await _first_times(conn, consumer, [event_id], event_type))[0]


async def _first_times(conn: AsyncConnection, consumer: str, event_ids: list[uuid.UUID],
                       event_type: str) -> list[bool]:
    """Record the events in the inbox in one statement: for each, whether it is seen
    for the first time (not before, nor earlier in the same batch)."""
    rows = await (await driver(conn)).fetch(_RECORD, consumer, event_ids, event_type)
    if faults.broken(faults.INBOX_DEDUPE_OFF):
        return [True] * len(event_ids)
    new = {row["event_id"] for row in rows}
    firsts = []
    for event_id in event_ids:
        firsts.append(event_id in new)
        new.discard(event_id)
    return firsts


_RECORD = (
    "INSERT INTO msa_inbox (consumer, event_id, event_type) "
    "SELECT $1, e, $3 FROM unnest($2::uuid[]) AS e ON CONFLICT DO NOTHING RETURNING event_id"
)


def _decode(event_type: str, data: bytes) -> Any:
    payload = json.loads(data)
    schema: type[Event] | None = event_class(event_type)
    return schema.model_validate(payload) if schema else payload


async def _dead_letter(runtime: Runtime, consumer: str, msg: Msg, reason: str) -> None:
    broker = runtime.broker
    assert broker is not None
    headers = dict(msg.headers or {})
    headers.pop("Nats-Msg-Id", None)
    headers.update({
        "Msa-Dlq-Consumer": consumer,
        "Msa-Dlq-Subject": msg.subject,
        "Msa-Dlq-Reason": reason[:500],
    })
    await broker.publish(f"{DLQ_SUBJECT_PREFIX}.{consumer}", msg.data, headers)
    await msg.ack()
    DEAD_LETTERS.labels(runtime.name, consumer).inc()
