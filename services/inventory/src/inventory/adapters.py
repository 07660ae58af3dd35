"""Inventory's tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory.domain import ReservationStatus, Stock
from msa import Event, OneStatement, driver
from msa import inbox_table as inbox

metadata = MetaData()

stock = Table(
    "stock", metadata,
    Column("book_id", UUID(as_uuid=True), primary_key=True),
    Column("received", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("sold", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

reservations = Table(
    "reservations", metadata,
    Column("reference", UUID(as_uuid=True), primary_key=True),
    Column("status", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

reservation_items = Table(
    "reservation_items", metadata,
    Column("reference", UUID(as_uuid=True), ForeignKey("reservations.reference"),
           primary_key=True),
    Column("book_id", UUID(as_uuid=True), ForeignKey("stock.book_id"), primary_key=True),
    Column("quantity", Integer, nullable=False),
)

_COUNTERS = [stock.c.book_id, stock.c.received, stock.c.available, stock.c.reserved,
             stock.c.sold]


async def add_book(conn: AsyncConnection, book_id: uuid.UUID) -> None:
    """A new book starts with no copies (a repeat is ignored)."""
    await conn.execute(
        pg_insert(stock).values(book_id=book_id, received=0, available=0, reserved=0, sold=0)
        .on_conflict_do_nothing(index_elements=["book_id"])
    )


async def lock_stock(conn: AsyncConnection,
                     book_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Stock]:
    """The books' stock, row-locked in book id order until the transaction ends."""
    rows = await conn.execute(
        select(*_COUNTERS).where(stock.c.book_id.in_(list(book_ids)))
        .order_by(stock.c.book_id).with_for_update()
    )
    return {row.book_id: Stock(**row._mapping) for row in rows}


async def save_stock(conn: AsyncConnection, level: Stock) -> None:
    await conn.execute(
        update(stock).where(stock.c.book_id == level.book_id)
        .values(received=level.received, available=level.available, reserved=level.reserved,
                sold=level.sold, updated_at=func.now())
    )


async def take_available(conn: AsyncConnection, book_id: uuid.UUID, quantity: int,
                         into: str) -> int | None:
    """Move `quantity` copies from available to `into` ('reserved' or 'sold') in one
    conditional update; the new available count, or None when too few are available
    (or the book has no stock row). The row is locked only from here to the commit."""
    statement = _TAKE_INTO_RESERVED if into == "reserved" else _TAKE_INTO_SOLD
    available = await (await driver(conn)).fetchval(statement, book_id, quantity)
    return None if available is None else int(available)


async def commit_if_reserved(conn: AsyncConnection, reference: uuid.UUID) -> bool:
    """Sell a reservation still holding its copies, in one statement: True if it was
    RESERVED (now COMMITTED); False leaves everything as it was, for the caller to look."""
    return bool(await (await driver(conn)).fetchval(
        _COMMIT_IF_RESERVED, reference, str(ReservationStatus.RESERVED),
        str(ReservationStatus.COMMITTED)))


_TAKE_INTO_RESERVED = (
    "UPDATE stock SET available = available - $2, reserved = reserved + $2, "
    "updated_at = now() WHERE book_id = $1 AND available >= $2 RETURNING available"
)
_TAKE_INTO_SOLD = (
    "UPDATE stock SET available = available - $2, sold = sold + $2, "
    "updated_at = now() WHERE book_id = $1 AND available >= $2 RETURNING available"
)
# the reservation's row is locked first (another transaction expiring it makes this wait,
# then find it no longer RESERVED); then the stock of its items: held becomes sold
_COMMIT_RESERVED = (
    "held AS (UPDATE reservations SET status = $3, updated_at = now() "
    "WHERE reference = $1 AND status = $2 RETURNING reference), "
    "sold AS (UPDATE stock s SET reserved = s.reserved - i.quantity, "
    "sold = s.sold + i.quantity, updated_at = now() FROM held, reservation_items i "
    "WHERE i.reference = held.reference AND s.book_id = i.book_id)"
)
_COMMIT_IF_RESERVED = f"WITH {_COMMIT_RESERVED} SELECT EXISTS (SELECT 1 FROM held)"


def first_commit(reference: uuid.UUID, answer: dict[str, Any]) -> OneStatement:
    """`commit_if_reserved` as one statement with the request's key: a row only when the
    reservation was RESERVED (now COMMITTED)."""
    return OneStatement(_COMMIT_RESERVED, "SELECT reference FROM held",
                        [reference, str(ReservationStatus.RESERVED),
                         str(ReservationStatus.COMMITTED)], answer)


async def get_stock(conn: AsyncConnection, book_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(*_COUNTERS).where(stock.c.book_id == book_id))).first()
    return dict(row._mapping) if row else None


async def available_of(conn: AsyncConnection, book_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(stock.c.book_id, stock.c.available).where(stock.c.book_id.in_(book_ids))
        .order_by(stock.c.book_id)
    )
    return [dict(row._mapping) for row in rows]


async def claim_reference(conn: AsyncConnection, reference: uuid.UUID,
                          status: ReservationStatus, ttl_seconds: int | None = None,
                          items: dict[uuid.UUID, int] | None = None,
                          ) -> dict[str, Any] | None:
    """Record `reference` with `status` (and its `items`, in the same statement) unless
    it has a record; the new row, or None.

    The primary key makes concurrent first calls for one reference queue up: the
    loser waits for the winner's commit and then finds its record."""
    raw = await driver(conn)
    if items:
        row = await raw.fetchrow(_CLAIM_WITH_ITEMS, reference, str(status), ttl_seconds,
                                 list(items), list(items.values()))
    else:
        row = await raw.fetchrow(_CLAIM, reference, str(status), ttl_seconds)
    return dict(row) if row else None


async def lock_reservation(conn: AsyncConnection, reference: uuid.UUID) -> dict[str, Any] | None:
    row = await (await driver(conn)).fetchrow(_LOCK_RESERVATION, reference)
    return dict(row) if row else None


_CLAIM = (
    "INSERT INTO reservations (reference, status, expires_at) "
    "VALUES ($1, $2, now() + make_interval(secs => $3)) "
    "ON CONFLICT (reference) DO NOTHING RETURNING reference, status, expires_at"
)
_CLAIM_WITH_ITEMS = (
    f"WITH claimed AS ({_CLAIM}), items AS ("
    "INSERT INTO reservation_items (reference, book_id, quantity) "
    "SELECT claimed.reference, i.book_id, i.quantity FROM claimed, "
    "unnest($4::uuid[], $5::int[]) AS i(book_id, quantity) "
    # a book inventory does not stock is left out here and refused by the taking (404)
    "WHERE EXISTS (SELECT 1 FROM stock s WHERE s.book_id = i.book_id)) "
    "SELECT reference, status, expires_at FROM claimed"
)
_RESERVE_ONE_BOOK = (
    # claimed only if the book is stocked and its copies suffice at this moment; a
    # transaction taking them meanwhile makes the update below break the stock's CHECK
    # (available >= 0), which fails the whole statement
    "claimed AS (INSERT INTO reservations (reference, status, expires_at) "
    "SELECT $1, $2, now() + make_interval(secs => $3) "
    "WHERE EXISTS (SELECT 1 FROM stock WHERE book_id = $4 AND available >= $5) "
    "ON CONFLICT (reference) DO NOTHING RETURNING reference, status, expires_at), "
    "items AS (INSERT INTO reservation_items (reference, book_id, quantity) "
    "SELECT reference, $4, $5 FROM claimed), "
    "taken AS (UPDATE stock SET available = available - $5, reserved = reserved + $5, "
    "updated_at = now() WHERE book_id = $4 AND EXISTS (SELECT 1 FROM claimed) "
    "RETURNING book_id, available)"
)


def first_reservation(reference: uuid.UUID, ttl_seconds: int, book_id: uuid.UUID,
                      quantity: int, answer: dict[str, Any],
                      events: list[Event]) -> OneStatement:
    """A reference's first reservation of one book whose copies suffice, as one statement
    with the request's key (what `claim_reference` and `take_available` do in that case):
    a row with the reservation (`reference`, `status`, `expires_at`) and the book's new
    `available`; none and nothing written otherwise (a repeat, a voided reference, too
    few copies, a book not stocked). It locks the reservation's row, then the stock's,
    as the transaction does."""
    return OneStatement(
        _RESERVE_ONE_BOOK,
        "SELECT c.reference, c.status, c.expires_at, t.book_id, t.available "
        "FROM claimed c, taken t",
        [reference, str(ReservationStatus.RESERVED), ttl_seconds, book_id, quantity],
        answer, events)


_LOCK_RESERVATION = (
    "SELECT reference, status, expires_at FROM reservations WHERE reference = $1 FOR UPDATE"
)


async def lock_due(conn: AsyncConnection, limit: int) -> list[uuid.UUID]:
    """Held reservations past their expiry; those another transaction holds are skipped."""
    rows = await conn.execute(
        select(reservations.c.reference)
        .where(reservations.c.status == ReservationStatus.RESERVED,
               reservations.c.expires_at < func.now())
        .order_by(reservations.c.expires_at).limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [row.reference for row in rows]


async def set_status(conn: AsyncConnection, references: list[uuid.UUID],
                     status: ReservationStatus) -> None:
    await conn.execute(
        update(reservations).where(reservations.c.reference.in_(references))
        .values(status=status, updated_at=func.now())
    )


async def items_of(conn: AsyncConnection,
                   references: list[uuid.UUID]) -> list[tuple[uuid.UUID, int]]:
    """(book id, quantity) of every item of the reservations."""
    rows = await conn.execute(
        select(reservation_items.c.book_id, reservation_items.c.quantity)
        .where(reservation_items.c.reference.in_(references))
    )
    return [(row.book_id, row.quantity) for row in rows]


async def audit(conn: AsyncConnection) -> dict[str, Any]:
    """Every book's counters and every reservation with its items."""
    books = [dict(row._mapping) for row in
             await conn.execute(select(*_COUNTERS).order_by(stock.c.book_id))]
    held: dict[uuid.UUID, dict[str, Any]] = {}
    rows = await conn.execute(
        select(reservations.c.reference, reservations.c.status, reservation_items.c.book_id,
               reservation_items.c.quantity)
        .select_from(reservations.outerjoin(reservation_items))
        .order_by(reservations.c.created_at, reservations.c.reference)
    )
    for row in rows:
        entry = held.setdefault(row.reference, {"reference": row.reference,
                                                "status": row.status, "items": []})
        if row.book_id is not None:
            entry["items"].append({"book_id": row.book_id, "quantity": row.quantity})
    return {"books": books, "reservations": list(held.values()),
            "handled": await handled_events(conn)}


async def handled_events(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Events each consumer has taken effect for, counted from its inbox rows.

    The stock row a book event makes is written with ON CONFLICT DO NOTHING, so the
    rows alone cannot show an event applied twice; the inbox, one row per event
    handled, can.
    """
    rows = await conn.execute(
        select(inbox.c.consumer, inbox.c.event_type, func.count().label("events"))
        .group_by(inbox.c.consumer, inbox.c.event_type)
        .order_by(inbox.c.consumer, inbox.c.event_type))
    return [dict(row) for row in rows.mappings()]
