"""The checkout's SQL, step by step, as our participants run it (asyncpg, prepared).

Each function runs its statements on `conn` and leaves the transaction to the
caller: one per step for the workflow peers, one for all of them for the
one-transaction peer.

The statements follow the services' adapters: a conditional stock update and a
reservation (inventory), a conditional balance update and a transaction row (wallet),
an entry with two lines (ledger), the order's status (orders), and the reservation's
commit (inventory). Every statement goes through asyncpg's statement cache, so each
is prepared once per connection. The peers call them against one participant
database each (Temporal, DBOS) or all inside one transaction (one database).
"""

from __future__ import annotations

import uuid
from typing import Any

SCHEMA = {
    "orders": """
CREATE TABLE IF NOT EXISTS orders (
  id uuid PRIMARY KEY, user_id uuid NOT NULL, status text NOT NULL,
  total_cents bigint NOT NULL, reason text, created_at timestamptz DEFAULT now(),
  updated_at timestamptz);
CREATE TABLE IF NOT EXISTS order_lines (
  order_id uuid REFERENCES orders (id), book_id uuid, quantity int NOT NULL,
  price_cents int NOT NULL, PRIMARY KEY (order_id, book_id));
""",
    "inventory": """
CREATE TABLE IF NOT EXISTS stock (
  book_id uuid PRIMARY KEY, received int NOT NULL, available int NOT NULL CHECK (available >= 0),
  reserved int NOT NULL, sold int NOT NULL, updated_at timestamptz);
CREATE TABLE IF NOT EXISTS reservations (
  reference uuid PRIMARY KEY, status text NOT NULL, expires_at timestamptz,
  created_at timestamptz DEFAULT now(), updated_at timestamptz);
CREATE TABLE IF NOT EXISTS reservation_items (
  reference uuid REFERENCES reservations (reference), book_id uuid REFERENCES stock (book_id),
  quantity int NOT NULL, PRIMARY KEY (reference, book_id));
""",
    "wallet": """
CREATE TABLE IF NOT EXISTS accounts (
  user_id uuid PRIMARY KEY, balance_cents bigint NOT NULL CHECK (balance_cents >= 0),
  updated_at timestamptz);
CREATE TABLE IF NOT EXISTS transactions (
  id uuid PRIMARY KEY, user_id uuid NOT NULL, kind text NOT NULL, amount_cents bigint NOT NULL,
  reference uuid, created_at timestamptz DEFAULT now());
""",
    "ledger": """
CREATE TABLE IF NOT EXISTS entries (
  id uuid PRIMARY KEY, reference uuid NOT NULL, kind text NOT NULL,
  created_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS lines (
  id bigserial PRIMARY KEY, entry_id uuid NOT NULL REFERENCES entries (id),
  account text NOT NULL, amount_cents bigint NOT NULL);
""",
}
PARTICIPANTS = tuple(SCHEMA)


class StepRefused(Exception):
    """A conditional update matched no row: too little stock or credit."""


async def create_order(conn: Any, order_id: uuid.UUID, user_id: uuid.UUID,
                       book_id: uuid.UUID, price_cents: int) -> None:
    """The order, PENDING, and its one line (what orders writes when a checkout starts)."""
    await conn.execute("INSERT INTO orders (id, user_id, status, total_cents) "
                       "VALUES ($1, $2, 'PENDING', $3)", order_id, user_id, price_cents)
    await conn.execute("INSERT INTO order_lines (order_id, book_id, quantity, price_cents) "
                       "VALUES ($1, $2, 1, $3)", order_id, book_id, price_cents)


async def reserve_stock(conn: Any, reference: uuid.UUID, book_id: uuid.UUID) -> None:
    """Step 1 (inventory): take one copy from available into reserved, record the hold."""
    taken = await conn.execute(
        "UPDATE stock SET available = available - 1, reserved = reserved + 1, "
        "updated_at = now() WHERE book_id = $1 AND available >= 1", book_id)
    if taken == "UPDATE 0":
        raise StepRefused("out of stock")
    await conn.execute("INSERT INTO reservations (reference, status, expires_at) "
                       "VALUES ($1, 'RESERVED', now() + interval '15 minutes')", reference)
    await conn.execute("INSERT INTO reservation_items (reference, book_id, quantity) "
                       "VALUES ($1, $2, 1)", reference, book_id)


async def debit_wallet(conn: Any, reference: uuid.UUID, user_id: uuid.UUID,
                       amount_cents: int) -> None:
    """Step 2 (wallet): take the amount if the balance covers it, write the history line."""
    taken = await conn.execute(
        "UPDATE accounts SET balance_cents = balance_cents - $2, updated_at = now() "
        "WHERE user_id = $1 AND balance_cents >= $2", user_id, amount_cents)
    if taken == "UPDATE 0":
        raise StepRefused("too little credit")
    await conn.execute("INSERT INTO transactions (id, user_id, kind, amount_cents, reference) "
                       "VALUES ($1, $2, 'DEBIT', $3, $4)", uuid.uuid4(), user_id,
                       -amount_cents, reference)


async def credit_revenue(conn: Any, reference: uuid.UUID, amount_cents: int) -> None:
    """Step 3 (ledger): one entry, two lines that sum to zero."""
    entry = uuid.uuid4()
    await conn.execute("INSERT INTO entries (id, reference, kind) VALUES ($1, $2, 'SALE')",
                       entry, reference)
    await conn.execute("INSERT INTO lines (entry_id, account, amount_cents) "
                       "VALUES ($1, 'customer-credit', $2), ($1, 'revenue', $3)",
                       entry, amount_cents, -amount_cents)


async def confirm_order(conn: Any, order_id: uuid.UUID) -> None:
    """Step 4 (orders): PENDING becomes CONFIRMED."""
    await conn.execute("UPDATE orders SET status = 'CONFIRMED', updated_at = now() "
                       "WHERE id = $1 AND status = 'PENDING'", order_id)


async def commit_reservation(conn: Any, reference: uuid.UUID, book_id: uuid.UUID) -> None:
    """Step 5 (inventory): the held copy is sold."""
    await conn.execute("UPDATE reservations SET status = 'COMMITTED', updated_at = now() "
                       "WHERE reference = $1 AND status = 'RESERVED'", reference)
    await conn.execute("UPDATE stock SET reserved = reserved - 1, sold = sold + 1, "
                       "updated_at = now() WHERE book_id = $1", book_id)


async def stock_and_fund(conn: Any, books: list[str], users: list[str], *,
                         copies: int, credit_cents: int, participant: str | None = None) -> None:
    """Give every book `copies` and every user `credit_cents` (in the tables this
    database holds; `participant` None means all of them)."""
    if participant in (None, "inventory"):
        await conn.executemany(
            "INSERT INTO stock (book_id, received, available, reserved, sold) "
            "VALUES ($1, $2, $2, 0, 0) ON CONFLICT (book_id) DO UPDATE "
            "SET received = stock.received + $2, available = stock.available + $2",
            [(uuid.UUID(b), copies) for b in books])
    if participant in (None, "wallet"):
        await conn.executemany(
            "INSERT INTO accounts (user_id, balance_cents) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET balance_cents = accounts.balance_cents + $2",
            [(uuid.UUID(u), credit_cents) for u in users])


async def confirmed_orders(conn: Any) -> int:
    """Orders the peer completed, counted from its own orders table."""
    return int(await conn.fetchval("SELECT count(*) FROM orders WHERE status = 'CONFIRMED'"))
