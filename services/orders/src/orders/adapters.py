"""Orders' tables and queries: the only place SQL lives."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    select,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import Event, OneStatement, driver
from orders.domain import OrderStatus

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


CART_FULL = "carts_lines_capped"
"""The constraint a new line past the cart's cap fails (the `carts` row's CHECK)."""


async def put_in_cart(conn: AsyncConnection, user_id: uuid.UUID, book_id: uuid.UUID,
                      quantity: int, *, add: bool, known: bool) -> list[dict[str, Any]] | None:
    """Add `quantity` copies of the book to the cart (or, without `add`, set its quantity)
    and return the whole cart, in one statement. Only a book orders knows (from catalog's
    events) is put in, unless `known` says it exists: for another, None and nothing
    changed. The CHECKs cap a line at 100 copies and a cart at 100 lines (`CART_FULL`)."""
    rows = await (await driver(conn)).fetch(
        f"WITH {_put_ctes(add)} SELECT book_id, quantity FROM cart ORDER BY added_at, book_id",
        user_id, book_id, quantity, known)
    items = [dict(row) for row in rows]
    return items if any(item["book_id"] == book_id for item in items) else None


def cart_change(user_id: uuid.UUID, book_id: uuid.UUID, quantity: int, *, add: bool,
                known: bool) -> OneStatement:
    """`put_in_cart` as one statement, answering `{"items": [...]}`: no row (nothing
    written) for a book orders does not know, and a failed statement for a change past
    a cap or one that raced another change of the same cart (the count of lines it
    moved is not that of the lines it saw): the transaction, holding the cart, then
    decides."""
    return OneStatement(
        _put_ctes(add),
        "SELECT coalesce(jsonb_agg(jsonb_build_object('book_id', c.book_id, 'quantity', "
        "c.quantity) ORDER BY c.added_at, c.book_id), '[]') AS items FROM cart c, sized s "
        "GROUP BY s.lines HAVING 1 / (count(*) = s.lines)::int = 1",
        [user_id, book_id, quantity, known], {"items": None})


def _put_ctes(add: bool) -> str:
    """The cart change's CTEs: `put` (the line), `sized` (the cart's count of lines,
    moved when the line is new: `xmax = 0` tells an insert from an update) and `cart`
    (the cart as the statement leaves it)."""
    quantity = "cart_items.quantity + excluded.quantity" if add else "excluded.quantity"
    return (
        f"{_CART_FIRST}, "
        "put AS (INSERT INTO cart_items (user_id, book_id, quantity) SELECT $1, $2, $3 "
        "WHERE ($4 OR EXISTS (SELECT 1 FROM books WHERE book_id = $2)) AND "
        f"{_AFTER_CART} "
        f"ON CONFLICT (user_id, book_id) DO UPDATE SET quantity = {quantity} "
        "RETURNING book_id, quantity, added_at, xmax = 0 AS added), "
        "sized AS (INSERT INTO carts (user_id, lines) "
        "SELECT $1, count(*) FILTER (WHERE added) FROM put HAVING count(*) > 0 "
        "ON CONFLICT (user_id) DO UPDATE SET lines = carts.lines + excluded.lines "
        "RETURNING lines), "
        "cart AS (SELECT book_id, quantity, added_at FROM cart_items "
        "WHERE user_id = $1 AND book_id <> $2 "
        "UNION ALL SELECT book_id, quantity, added_at FROM put)"
    )


async def hold_cart(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Hold the customer's cart until the transaction ends: lock its `carts` row (made if
    missing), which every change of the cart's lines updates, so no other change of the
    cart runs meanwhile and every statement after this one sees the cart as it is."""
    await (await driver(conn)).execute(
        "INSERT INTO carts (user_id) VALUES ($1) "
        "ON CONFLICT (user_id) DO UPDATE SET lines = carts.lines", user_id)


async def remove_from_cart(conn: AsyncConnection, user_id: uuid.UUID,
                           book_id: uuid.UUID) -> bool:
    """Remove the book's line (and count it off the cart); False if it was not there."""
    return bool(await (await driver(conn)).fetchval(
        f"WITH {_lines_gone('AND book_id = $2')} SELECT count(*) FROM gone",
        user_id, book_id))


async def take_cart(conn: AsyncConnection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Empty the cart and return what it held, in the order it was added, with each
    book's title and price as orders knows them (None for a book it does not know yet).

    The cart's rows are deleted, so two checkouts cannot share them: one statement."""
    rows = await (await driver(conn)).fetch(_TAKE_CART, user_id)
    return [dict(row) for row in rows]


def placing(user_id: uuid.UUID, order_id: uuid.UUID, saga_id: uuid.UUID,
            answer: dict[str, Any], events: list[Event]) -> OneStatement:
    """The checkout's usual case as one statement (what `take_cart` and `insert_order`
    do in the transaction): the cart emptied into a PENDING order priced from the read
    model, with a row of the order's `total_cents` and its `lines` (as the contract's
    OrderLine), or no row and nothing written when the cart is empty or holds a book
    the read model does not know."""
    return OneStatement(
        _lines_gone("AND NOT EXISTS (SELECT 1 FROM cart_items c LEFT JOIN books b "
                    "USING (book_id) WHERE c.user_id = $1 AND b.book_id IS NULL)") + ", "
        "priced AS (SELECT g.book_id, g.quantity, g.added_at, b.title, b.price_cents "
        "FROM gone g JOIN books b USING (book_id)), "
        "placed AS (INSERT INTO orders (id, user_id, status, total_cents, saga_id) "
        "SELECT $2, $1, $4, sum(quantity::bigint * price_cents), $3 FROM priced "
        "HAVING count(*) > 0 RETURNING id, total_cents), "
        "placed_lines AS (INSERT INTO order_lines (order_id, book_id, quantity, "
        "price_cents, title) SELECT p.id, l.book_id, l.quantity, l.price_cents, l.title "
        "FROM placed p, priced l)",
        "SELECT p.total_cents, (SELECT jsonb_agg(jsonb_build_object('book_id', book_id, "
        "'quantity', quantity, 'price_cents', price_cents) ORDER BY added_at, book_id) "
        "FROM priced) AS lines FROM placed p",
        [user_id, order_id, saga_id, str(OrderStatus.PENDING)], answer, events)


async def set_book(conn: AsyncConnection, book_id: uuid.UUID, title: str,
                   price_cents: int) -> None:
    """Remember a book's title and current price (from catalog's events)."""
    await (await driver(conn)).execute(
        "INSERT INTO books (book_id, title, price_cents) VALUES ($1, $2, $3) "
        "ON CONFLICT (book_id) DO UPDATE SET title = excluded.title, "
        "price_cents = excluded.price_cents, updated_at = now()",
        book_id, title, price_cents)


async def insert_order(conn: AsyncConnection, order: dict[str, Any],
                       lines: list[dict[str, Any]]) -> None:
    """The order and its lines, in one statement."""
    await (await driver(conn)).execute(
        _INSERT_ORDER, order["id"], order["user_id"], str(order["status"]),
        order["total_cents"], order["saga_id"],
        [line["book_id"] for line in lines], [line["quantity"] for line in lines],
        [line["price_cents"] for line in lines], [line["title"] for line in lines])


async def order_with_steps(conn: asyncpg.Connection,
                           order_id: uuid.UUID) -> dict[str, Any] | None:
    """The order, its lines and its saga's step history, oldest first, in one query
    (on an asyncpg connection: see `msa.db.autocommit`).

    The steps are read from the platform's saga step table (`msa_saga_step`) of this
    database: the same rows `msa.sagas.saga_detail` reads."""
    row = await conn.fetchrow(_ORDER_WITH_STEPS, order_id)
    if row is None:
        return None
    order = dict(row)
    for part in ("lines", "steps"):  # decoded already where the pool's codec does it
        if isinstance(order[part], str):
            order[part] = json.loads(order[part])
    return order


_CART_FIRST = (
    "cart_first AS (SELECT count(*) AS n FROM "
    "(SELECT FROM carts WHERE user_id = $1 FOR UPDATE) c)"
)
"""The CTE locking the cart's `carts` row before the statement touches a line (with
`_AFTER_CART` in the qualification of its first write): every change of a cart takes
the cart's row and then its lines, in this order, so two changes never wait on each
other in a circle (a deadlock). Only a customer's very first cart row, made by one
change while another is under way, can still close a circle: PostgreSQL then rolls one
back, which answers 503 (try again)."""
_AFTER_CART = "(SELECT n FROM cart_first) >= 0"
_COUNTED_OFF = (
    "counted_off AS (UPDATE carts SET lines = lines - (SELECT count(*) FROM gone) "
    "WHERE user_id = $1 AND EXISTS (SELECT 1 FROM gone))"
)
"""The CTE that counts the lines `gone` (deleted) off the cart's count."""


def _lines_gone(condition: str = "") -> str:
    """The CTEs deleting the cart's lines that meet `condition` (SQL after `AND`'s, or
    nothing for all) as `gone` (book_id, quantity, added_at), the cart's row taken first
    and the lines counted off it."""
    return (f"{_CART_FIRST}, gone AS (DELETE FROM cart_items WHERE user_id = $1 "
            f"AND {_AFTER_CART} {condition} RETURNING book_id, quantity, added_at), "
            f"{_COUNTED_OFF}")


_TAKE_CART = (
    f"WITH {_lines_gone()} "
    "SELECT t.book_id, t.quantity, b.title, b.price_cents FROM gone t "
    "LEFT JOIN books b USING (book_id) ORDER BY t.added_at, t.book_id"
)
_INSERT_ORDER = (
    "WITH placed AS (INSERT INTO orders (id, user_id, status, total_cents, saga_id) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING id) "
    "INSERT INTO order_lines (order_id, book_id, quantity, price_cents, title) "
    "SELECT placed.id, l.* FROM placed, "
    "unnest($6::uuid[], $7::int[], $8::int[], $9::text[]) AS l"
)
_ORDER_WITH_STEPS = (
    "SELECT o.id, o.user_id, o.status, o.total_cents, o.reason, o.saga_id, o.created_at, "
    "o.updated_at, "
    "(SELECT coalesce(json_agg(json_build_object('book_id', l.book_id, 'title', l.title, "
    "'quantity', l.quantity, 'price_cents', l.price_cents)), '[]') "
    "FROM order_lines l WHERE l.order_id = o.id) AS lines, "
    "(SELECT coalesce(json_agg(json_build_object('step', s.step, 'direction', s.direction, "
    "'outcome', s.outcome, 'detail', s.detail, 'at', s.finished_at) ORDER BY s.id), '[]') "
    "FROM msa_saga_step s WHERE s.saga_id = o.saga_id) AS steps "
    "FROM orders o WHERE o.id = $1"
)


async def set_status(conn: AsyncConnection, order_id: uuid.UUID, status: str,
                     reason: str | None = None) -> dict[str, Any] | None:
    """Move a PENDING order to its end state; None if it was not pending."""
    row = await (await driver(conn)).fetchrow(
        "UPDATE orders SET status = $2, reason = $3, updated_at = now() "
        "WHERE id = $1 AND status = 'PENDING' RETURNING id, user_id, status, total_cents, "
        "reason, saga_id, created_at, updated_at",
        order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id)),
        str(status), reason)
    return dict(row) if row else None


def confirmation(order_id: uuid.UUID, answer: dict[str, Any],
                 events: list[Event]) -> OneStatement:
    """A PENDING order CONFIRMED, as one statement (what `set_status` does): a row with
    the order's `order_id`, `user_id` and `total_cents` when it was pending, none
    otherwise (nothing changed)."""
    return OneStatement(
        "changed AS (UPDATE orders SET status = $2, reason = NULL, updated_at = now() "
        "WHERE id = $1 AND status = 'PENDING' RETURNING id, user_id, total_cents)",
        "SELECT id AS order_id, user_id, total_cents FROM changed",
        [order_id, str(OrderStatus.CONFIRMED)], answer, events)


async def list_orders(conn: AsyncConnection, user_id: uuid.UUID | None, limit: int,
                      offset: int) -> list[dict[str, Any]]:
    """The user's orders, newest first (every customer's when `user_id` is None)."""
    mine = [orders.c.user_id == user_id] if user_id is not None else []
    rows = await conn.execute(
        select(*ORDER_COLUMNS).where(*mine)
        .order_by(orders.c.created_at.desc(), orders.c.id).limit(limit).offset(offset)
    )
    return [dict(row) for row in rows.mappings()]


async def audit(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(orders.c.id, orders.c.user_id, orders.c.status,
                                     orders.c.total_cents, orders.c.saga_id, orders.c.reason))
    return [dict(row) for row in rows.mappings()]


async def miscounted_carts(conn: AsyncConnection) -> int:
    """Carts whose count of lines (the `carts` row) is not the number of their lines."""
    return int(await (await driver(conn)).fetchval(
        "SELECT count(*) FROM carts c FULL JOIN (SELECT user_id, count(*) AS n "
        "FROM cart_items GROUP BY user_id) i USING (user_id) "
        "WHERE coalesce(c.lines, 0) <> coalesce(i.n, 0)"))
