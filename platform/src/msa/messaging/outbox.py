"""The transactional outbox and its relay.

`emit(conn, event)` writes the event in the caller's transaction, so an event
exists if and only if the state change that caused it committed. The relay
publishes unpublished rows in id order with `Nats-Msg-Id` = event id, wakes on
commit (a trigger NOTIFYs `msa_outbox`) with polling only as a fallback, and
retries until the broker acks. One replica relays at a time (a session advisory
lock), so per-aggregate order is the commit order. The outbox stays the source of
truth: `republish` re-drives a range.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import faults
from msa.events import Event
from msa.tables import outbox
from msa.tracing import producer_span

if TYPE_CHECKING:
    from msa.service import Runtime

_log = logging.getLogger("msa.outbox")
RELAY_LOCK = 0x6D73_6131  # "msa1"
BATCH = 256
POLL_SECONDS = 1.0


async def emit(conn: AsyncConnection, event: Event, *, aggregate: str | None = None,
               event_id: uuid.UUID | None = None) -> uuid.UUID:
    """Record `event` in the outbox within the transaction of `conn`."""
    event_id = event_id or uuid.uuid4()
    headers: dict[str, str] = {}
    from msa.tracing import inject_headers

    inject_headers(headers)
    await conn.execute(
        insert(outbox).values(
            event_id=event_id,
            event_type=event.type,
            aggregate=aggregate or event.aggregate(),
            payload=event.model_dump(mode="json"),
            headers=headers,
            attempts=0,
        )
    )
    return event_id


async def republish(conn: AsyncConnection, first_id: int, last_id: int) -> int:
    """Mark a range of outbox rows unpublished so the relay sends them again."""
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.id.between(first_id, last_id))
        .values(published_at=None)
    )
    return int(result.rowcount or 0)


def _dsn(runtime: Runtime) -> str:
    url = runtime.db.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def run_relay(runtime: Runtime) -> None:
    """Publish the outbox forever; exits only when cancelled."""
    broker = runtime.broker
    assert broker is not None
    wake = asyncio.Event()
    listener = await asyncpg.connect(_dsn(runtime), timeout=5)
    try:
        while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
            await asyncio.sleep(POLL_SECONDS)  # another replica relays; take over if it dies
        await listener.add_listener("msa_outbox", lambda *_: wake.set())
        _log.info("outbox relay leading")
        while True:
            sent = await _drain_once(runtime, listener)
            if sent < BATCH:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_SECONDS)
    finally:
        await listener.close(timeout=2)


async def _drain_once(runtime: Runtime, conn: asyncpg.Connection) -> int:
    broker = runtime.broker
    assert broker is not None
    rows = await conn.fetch(
        "SELECT id, event_id, event_type, aggregate, payload, headers FROM msa_outbox "
        "WHERE published_at IS NULL ORDER BY id LIMIT $1",
        BATCH,
    )
    if not rows:
        return 0
    faults.point("relay.before_publish")
    done: list[int] = []
    results = await asyncio.gather(*(_publish(runtime, row) for row in rows),
                                   return_exceptions=True)
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, BaseException):
            _log.warning("publish of %s failed: %s", row["event_id"], result)
            break  # keep order: the rest goes again from here
        done.append(row["id"])
    faults.point("relay.after_publish")  # published but not marked: resent, then deduped
    if done:
        await conn.execute(
            "UPDATE msa_outbox SET published_at = now(), attempts = attempts + 1 "
            "WHERE id = ANY($1::bigint[])",
            done,
        )
    if len(done) < len(rows):
        await asyncio.sleep(0.5)
    return len(done)


async def _publish(runtime: Runtime, row: Any) -> bool:
    """Publish one row, inside a producer span when the row carries a trace."""
    broker = runtime.broker
    assert broker is not None
    headers = _headers(row)
    with producer_span(runtime.name, row["event_type"], headers):
        return await broker.publish(row["event_type"], _payload(row), headers)


def _payload(row: Any) -> bytes:
    payload = row["payload"]
    return payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()


def _headers(row: Any) -> dict[str, str]:
    raw = row["headers"]
    extra = json.loads(raw) if isinstance(raw, str) else (raw or {})
    event_id = str(row["event_id"])
    return {
        **extra,
        "Nats-Msg-Id": event_id,
        "Msa-Event-Id": event_id,
        "Msa-Event-Type": row["event_type"],
        "Msa-Aggregate": row["aggregate"],
    }


async def outbox_lag(conn: AsyncConnection) -> tuple[int, float]:
    """(unpublished rows, age in seconds of the oldest)."""
    row = (await conn.execute(text(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
        "FROM msa_outbox WHERE published_at IS NULL"
    ))).one()
    return int(row[0]), float(row[1])
