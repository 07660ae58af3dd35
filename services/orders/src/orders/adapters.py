"""Orders' tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

cart_items = Table(
    "cart_items", metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("book_id", UUID(as_uuid=True), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("added_at", DateTime(timezone=True)),
)
orders = Table(
    "orders", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("reason", Text),
    Column("saga_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
order_lines = Table(
    "order_lines", metadata,
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), primary_key=True),
    Column("book_id", UUID(as_uuid=True), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("title", Text, nullable=False),
)

ORDER_COLUMNS = [orders.c.id, orders.c.user_id, orders.c.status, orders.c.total_cents,
                 orders.c.reason, orders.c.saga_id, orders.c.created_at, orders.c.updated_at]


async def cart(conn: AsyncConnection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(cart_items.c.book_id, cart_items.c.quantity)
        .where(cart_items.c.user_id == user_id).order_by(cart_items.c.added_at)
    )
    return [dict(row) for row in rows.mappings()]


async def add_to_cart(conn: AsyncConnection, user_id: uuid.UUID, book_id: uuid.UUID,
                      quantity: int) -> int:
    """Add `quantity`; returns the new quantity (the CHECK caps it at 100)."""
    statement = pg_insert(cart_items).values(user_id=user_id, book_id=book_id, quantity=quantity)
    upsert = statement.on_conflict_do_update(
        index_elements=["user_id", "book_id"],
        set_={"quantity": cart_items.c.quantity + statement.excluded.quantity},
    ).returning(cart_items.c.quantity)
    return int((await conn.execute(upsert)).scalar_one())


async def set_cart_quantity(conn: AsyncConnection, user_id: uuid.UUID, book_id: uuid.UUID,
                            quantity: int) -> None:
    statement = pg_insert(cart_items).values(user_id=user_id, book_id=book_id, quantity=quantity)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["user_id", "book_id"], set_={"quantity": quantity}))


async def lock_cart(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, int]:
    """Hold the customer's cart until the transaction ends; what it holds, book id → quantity.

    A transaction-scoped advisory lock: two concurrent additions cannot both find room.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:who, 0))"),
                       {"who": f"cart:{user_id}"})
    return {str(line["book_id"]): int(line["quantity"]) for line in await cart(conn, user_id)}


async def remove_from_cart(conn: AsyncConnection, user_id: uuid.UUID,
                           book_id: uuid.UUID) -> bool:
    result = await conn.execute(delete(cart_items).where(
        cart_items.c.user_id == user_id, cart_items.c.book_id == book_id))
    return bool(result.rowcount)


async def take_cart(conn: AsyncConnection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Empty the cart and return what it held (locked, so two checkouts cannot share it)."""
    rows = await conn.execute(
        delete(cart_items).where(cart_items.c.user_id == user_id)
        .returning(cart_items.c.book_id, cart_items.c.quantity)
    )
    return [dict(row) for row in rows.mappings()]


async def insert_order(conn: AsyncConnection, order: dict[str, Any],
                       lines: list[dict[str, Any]]) -> None:
    await conn.execute(insert(orders).values(**order))
    await conn.execute(insert(order_lines), [{**line, "order_id": order["id"]} for line in lines])


async def set_status(conn: AsyncConnection, order_id: uuid.UUID, status: str,
                     reason: str | None = None) -> dict[str, Any] | None:
    """Move a PENDING order to its end state; None if it was not pending."""
    row = (await conn.execute(
        update(orders).where(orders.c.id == order_id, orders.c.status == "PENDING")
        .values(status=status, reason=reason, updated_at=func.now())
        .returning(*ORDER_COLUMNS)
    )).mappings().first()
    return dict(row) if row else None


async def get_order(conn: AsyncConnection, order_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(*ORDER_COLUMNS).where(orders.c.id == order_id))
           ).mappings().first()
    if row is None:
        return None
    lines = (await conn.execute(
        select(order_lines.c.book_id, order_lines.c.title, order_lines.c.quantity,
               order_lines.c.price_cents).where(order_lines.c.order_id == order_id)
    )).mappings().all()
    return {**dict(row), "lines": [dict(line) for line in lines]}


async def list_orders(conn: AsyncConnection, user_id: uuid.UUID, limit: int,
                      offset: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(*ORDER_COLUMNS).where(orders.c.user_id == user_id)
        .order_by(orders.c.created_at.desc(), orders.c.id).limit(limit).offset(offset)
    )
    return [dict(row) for row in rows.mappings()]


async def audit(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(orders.c.id, orders.c.user_id, orders.c.status,
                                     orders.c.total_cents, orders.c.saga_id, orders.c.reason))
    return [dict(row) for row in rows.mappings()]
