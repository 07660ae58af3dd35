"""The transactional outbox and its relay.

`emit(conn, event)` writes the event in the caller's transaction, so an event
exists if and only if the state change that caused it committed. The relay
publishes unpublished rows with `Nats-Msg-Id` = event id, wakes on commit (a
trigger NOTIFYs `msa_outbox`) with polling only as a fallback, and retries until
the broker acks. One replica relays at a time (a session advisory lock); within a
batch different aggregates are published concurrently and each aggregate's rows
in id order, the next only after the broker acked the one before, so per-aggregate
order is the commit order even when a publish fails. The outbox stays the source
of truth: `republish` re-drives a range.

Rows published are marked by the statement that fetches the next batch (one
statement for both): the next commit's wake, or MARK_LINGER after the last one
when none comes. Until then `outbox_lag` still counts them. A relay that dies in
between publishes those rows again: JetStream drops them by `Nats-Msg-Id` inside
its duplicate window (minutes, against a linger of a fraction of a second), and
past it the consumers' inbox does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from msa import faults
from msa.db import driver
from msa.errors import ConfigError
from msa.events import Event
from msa.tables import outbox
from msa.tracing import inject_headers, producer_span

if TYPE_CHECKING:
    from msa.runtime import Runtime

_log = logging.getLogger("msa.outbox")
RELAY_LOCK = 0x6D73_6131  # "msa1"
BATCH = 256
POLL_SECONDS = 1.0
MARK_LINGER = 0.25  # seconds a published batch waits for the next fetch to mark it


# engine of a running service → (service, the event types system.toml says it publishes)
_PUBLISHES: weakref.WeakKeyDictionary[Engine, tuple[str, frozenset[str]]] = (
    weakref.WeakKeyDictionary())


def declare_publishes(engine: AsyncEngine, service: str, event_types: Iterable[str]) -> None:
    """Make `emit` on `engine` refuse the event types `service` does not publish."""
    _PUBLISHES[engine.sync_engine] = (service, frozenset(event_types))


async def emit(conn: AsyncConnection, event: Event, *, aggregate: str | None = None,
               event_id: uuid.UUID | None = None) -> uuid.UUID:
    """Record `event` in the outbox within the transaction of `conn`.

    On a service's database, an event type the service's `publishes` in system.toml
    does not list is refused with ConfigError (consumers are checked against the
    same description), so the catalog and the wire cannot drift apart.
    """
    row = outbox_row(conn.sync_engine, event, aggregate=aggregate, event_id=event_id)
    held = _held.get()
    if held is not None and held[0] is conn:
        held[1].append(row)  # written by the holder, in its transaction, before it commits
        return row[0]
    await (await driver(conn)).execute(_INSERT, *row)
    return row[0]


def outbox_row(engine: Engine, event: Event, *, aggregate: str | None = None,
               event_id: uuid.UUID | None = None) -> HeldEvent:
    """`event` as the outbox row a statement writes (see `emit`, which checks the same)."""
    declared = _PUBLISHES.get(engine)
    if declared is not None and event.type not in declared[1]:
        service = declared[0]
        raise ConfigError(f"{service}: emits {event.type!r}, which services.{service}"
                          ".publishes in system.toml does not list")
    headers: dict[str, str] = {}
    inject_headers(headers)
    return (event_id or uuid.uuid4(), event.type, aggregate or event.aggregate(),
            event.model_dump_json(), json.dumps(headers, separators=(",", ":")))


_INSERT = (
    "INSERT INTO msa_outbox (event_id, event_type, aggregate, payload, headers, attempts) "
    "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 0)"
)

HeldEvent = tuple[uuid.UUID, str, str, str, str]
"""An event emitted but not yet written: event id, type, aggregate, payload, headers."""

HeldWrite = tuple[str, Sequence[Any]]
"""A statement held to be written by the holder's own (one data-modifying statement with
parameters from `$1`, and its arguments)."""

_held: ContextVar[tuple[AsyncConnection, list[HeldEvent], list[HeldWrite] | None] | None] = (
    ContextVar("msa_outbox_held", default=None))


@contextlib.contextmanager
def holding_events(conn: AsyncConnection, writes: list[HeldWrite] | None = None
                   ) -> Iterator[list[HeldEvent]]:
    """Within the block, events emitted on `conn` are collected, not written.

    The caller MUST write them in the same transaction before it commits, with a
    statement of its own made by `with_held_events` (the idempotency key's INSERT
    and a local saga step's record do this: one round trip for both), or drop them
    with the transaction it rolls back. With `writes`, the holder also takes the
    statements offered to `hold_write` (a saga's start), under the same rule.
    """
    events: list[HeldEvent] = []
    token = _held.set((conn, events, writes))
    try:
        yield events
    finally:
        _held.reset(token)


def hold_write(conn: AsyncConnection, statement: str, args: Sequence[Any]) -> bool:
    """Hand `statement` to the holder of `conn` (see `holding_events`), which writes it
    with its own statement in the same transaction; False if nobody takes it (then the
    caller runs it itself)."""
    held = _held.get()
    if held is None or held[0] is not conn or held[2] is None:
        return False
    held[2].append((statement, args))
    return True


def with_held_events(statement: str, first: int) -> str:
    """`statement` that also writes held events, in emit order, from five array
    parameters starting at `$first` (`columns(events, 5)`)."""
    cte = held_events_cte(first)
    if statement.startswith("WITH "):
        return f"WITH {cte}, {statement.removeprefix('WITH ')}"
    return f"WITH {cte} {statement}"


def held_events_cte(first: int, fill_from: str | None = None) -> str:
    """The CTE `outboxed` writing held events from five array parameters at `$first`.

    With `fill_from`, the name of a one-row relation defined before it (a CTE), the
    events are written only if that relation has its row, and the row's columns fill
    the payload fields of the same names (what the statement itself computed, such
    as a new balance)."""
    p = [f"${first + i}" for i in range(5)]
    payload, source = "e.payload::jsonb", ""
    if fill_from is not None:
        payload, source = filled("e.payload::jsonb", "w"), f"{fill_from} w, "
    return (
        "outboxed AS (INSERT INTO msa_outbox (event_id, event_type, aggregate, payload, "
        f"headers, attempts) SELECT e.id, e.type, e.aggregate, {payload}, "
        f"e.headers::jsonb, 0 FROM {source}unnest({p[0]}::uuid[], {p[1]}::text[], "
        f"{p[2]}::text[], {p[3]}::text[], {p[4]}::text[]) WITH ORDINALITY "
        "AS e(id, type, aggregate, payload, headers, n) ORDER BY e.n)"
    )


def filled(template: str, row: str) -> str:
    """SQL: the jsonb object `template` with the fields it has filled from the columns
    of the same names of the row `row` (what a statement computed)."""
    return (f"({template} || (SELECT coalesce(jsonb_object_agg(f.k, f.v), '{{}}') "
            f"FROM jsonb_each(to_jsonb({row})) AS f(k, v) WHERE {template} ? f.k))")


async def republish(conn: AsyncConnection, first_id: int, last_id: int) -> int:
    """Mark a range of outbox rows unpublished so the relay sends them again."""
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.id.between(first_id, last_id))
        .values(published_at=None)
    )
    await conn.execute(text("SELECT pg_notify('msa_outbox', '')"))  # wake the relay at commit
    return int(result.rowcount or 0)


def _dsn(runtime: Runtime) -> str:
    url = runtime.db.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PublishPort(Protocol):
    """Where the relay sends events: the Broker, or a fake of it in tests."""

    async def publish(self, subject: str, data: bytes, headers: dict[str, Any]) -> bool:
        """Publish and wait for the ack; True if the broker saw a duplicate."""
        ...


async def run_relay(runtime: Runtime, port: PublishPort | None = None) -> None:
    """Publish the outbox forever (through `port`, default the runtime's broker);
    exits only when cancelled."""
    port = port or runtime.broker
    assert port is not None
    wake = asyncio.Event()
    listener = await asyncpg.connect(_dsn(runtime), timeout=5)
    try:
        while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
            await asyncio.sleep(POLL_SECONDS)  # another replica relays; take over if it dies
        await listener.add_listener("msa_outbox", lambda *_: wake.set())
        _log.info("outbox relay leading")
        unmarked: list[int] = []  # published, marked with the next fetch
        while True:
            # cleared before the drain: a commit during the drain wakes the next round
            wake.clear()
            fetched, sent, unmarked = await _drain_once(runtime, listener, port, unmarked)
            if fetched < BATCH and sent == fetched:
                # caught up: wait for the next commit, or (with a batch to mark) for
                # MARK_LINGER, then mark it with a fetch. asyncio.timeout, not wait_for:
                # on 3.11 wait_for can swallow a cancellation that meets a wake, and the
                # relay would never stop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(MARK_LINGER if unmarked else POLL_SECONDS):
                        await wake.wait()
    finally:
        try:
            if unmarked:  # stopping: mark what was published (if this fails, it is resent)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1):
                        await listener.execute(_MARK, unmarked)
        finally:
            try:
                await listener.close(timeout=2)
            except BaseException:  # cancelled again while closing: drop it at once
                listener.terminate()
                raise


_FETCH = (
    "SELECT id, event_id, event_type, aggregate, payload, headers FROM msa_outbox "
    "WHERE published_at IS NULL ORDER BY id LIMIT $1"
)
_MARK = (
    "UPDATE msa_outbox SET published_at = now(), attempts = attempts + 1 "
    "WHERE id = ANY($1::bigint[])"
)
# the mark of the batch before and the fetch of the next, in one statement (the fetch
# sees the table as it was before the mark: the marked rows are left out by id)
_MARK_AND_FETCH = (
    "WITH marked AS (UPDATE msa_outbox SET published_at = now(), attempts = attempts + 1 "
    "WHERE id = ANY($2::bigint[])) "
    "SELECT id, event_id, event_type, aggregate, payload, headers FROM msa_outbox "
    "WHERE published_at IS NULL AND id <> ALL($2::bigint[]) ORDER BY id LIMIT $1"
)


async def _drain_once(runtime: Runtime, conn: asyncpg.Connection, port: PublishPort,
                      unmarked: list[int] | None = None) -> tuple[int, int, list[int]]:
    """Mark `unmarked` and publish one batch: (rows fetched, rows published, rows
    published but left for the next call to mark, in the statement of its fetch).
    After a failed publish what was published is marked here, before the pause."""
    if unmarked:
        rows = await conn.fetch(_MARK_AND_FETCH, BATCH, unmarked)
    else:
        rows = await conn.fetch(_FETCH, BATCH)
    if not rows:
        return 0, 0, []
    faults.point("relay.before_publish")
    # Aggregates are published concurrently, each one's rows one after another: a
    # row is sent only once the one before it in its aggregate was acked, so a
    # failure never lets a later event of its aggregate overtake it in the stream.
    chains: dict[str, list[Any]] = {}
    for row in rows:
        chains.setdefault(row["aggregate"], []).append(row)
    results = await asyncio.gather(*(_publish_in_order(runtime, port, chain)
                                     for chain in chains.values()))
    done = [row_id for acked, _ in results for row_id in acked]
    failures = [failure for _, failure in results if failure is not None]
    if failures:
        _log.warning("publish failed for %d aggregate(s), retrying; first: %s",
                     len(failures), failures[0])
    faults.point("relay.after_publish")  # published but not marked: resent, then deduped
    if done and not failures:
        return len(rows), len(done), done
    if done:
        await conn.execute(_MARK, done)
    if failures:
        await asyncio.sleep(0.5)
    return len(rows), len(done), []


async def _publish_in_order(runtime: Runtime, port: PublishPort, chain: list[Any]
                            ) -> tuple[list[int], str | None]:
    """Publish one aggregate's rows in order, stopping at the first failure:
    (ids acked, what failed)."""
    acked: list[int] = []
    for row in chain:
        try:
            await _publish(runtime, port, row)
        except Exception as exc:
            return acked, f"{row['event_id']}: {type(exc).__name__}: {exc}"
        acked.append(row["id"])
    return acked, None


async def _publish(runtime: Runtime, port: PublishPort, row: Any) -> bool:
    """Publish one row, inside a producer span when the row carries a trace."""
    headers = _headers(row)
    with producer_span(runtime.name, row["event_type"], headers):
        return await port.publish(row["event_type"], _payload(row), headers)


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
