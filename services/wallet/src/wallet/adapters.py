"""Wallet's tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
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

from msa import Event, OneStatement, driver
from wallet.domain import Account, DebitStatus, TransactionKind

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("balance_cents", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

transactions = Table(
    "transactions", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("reference", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True)),
)

debits = Table(
    "debits", metadata,
    Column("reference", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True)),
    Column("amount_cents", BigInteger),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)


async def lock_account(conn: AsyncConnection, user_id: uuid.UUID,
                       *, create: bool = False) -> Account:
    """The account, row-locked until the transaction ends; a missing one has balance 0
    (and is created first when `create`: money is about to enter it)."""
    if create:
        await conn.execute(pg_insert(accounts).values(user_id=user_id, balance_cents=0)
                           .on_conflict_do_nothing(index_elements=["user_id"]))
    row = (await conn.execute(
        select(accounts.c.balance_cents).where(accounts.c.user_id == user_id).with_for_update()
    )).first()
    return Account(user_id, row.balance_cents if row else 0)


async def debit_account(conn: AsyncConnection, user_id: uuid.UUID,
                        amount_cents: int) -> int | None:
    """Take `amount_cents` from the account in one conditional update; the new balance,
    or None when the balance is too small (or there is no account). The row is locked
    only from here to the commit."""
    balance = await (await driver(conn)).fetchval(_DEBIT, user_id, amount_cents)
    return None if balance is None else int(balance)


_DEBIT = (
    "UPDATE accounts SET balance_cents = balance_cents - $2, updated_at = now() "
    "WHERE user_id = $1 AND balance_cents >= $2 RETURNING balance_cents"
)


async def save_account(conn: AsyncConnection, account: Account) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.user_id == account.user_id)
        .values(balance_cents=account.balance_cents, updated_at=func.now())
    )


async def balance_of(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    balance = (await conn.execute(
        select(accounts.c.balance_cents).where(accounts.c.user_id == user_id))).scalar()
    return int(balance or 0)


async def record(conn: AsyncConnection, user_id: uuid.UUID, kind: TransactionKind,
                 amount_cents: int, reference: uuid.UUID | None = None) -> uuid.UUID:
    """Append a line to the account's history; its id."""
    transaction_id = uuid.uuid4()
    await (await driver(conn)).execute(
        "INSERT INTO transactions (id, user_id, kind, amount_cents, reference) "
        "VALUES ($1, $2, $3, $4, $5)",
        transaction_id, user_id, str(kind), amount_cents, reference)
    return transaction_id


async def history(conn: AsyncConnection, user_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(transactions.c.id.label("transaction_id"), transactions.c.kind,
               transactions.c.amount_cents, transactions.c.reference, transactions.c.created_at)
        .where(transactions.c.user_id == user_id)
        .order_by(transactions.c.created_at.desc(), transactions.c.id).limit(limit)
    )
    return [dict(row._mapping) for row in rows]


async def claim_debit(conn: AsyncConnection, reference: uuid.UUID, status: DebitStatus,
                      user_id: uuid.UUID | None = None, amount_cents: int | None = None) -> bool:
    """Record the debit's reference unless it has a record; True if recorded now.

    The primary key makes concurrent first calls for one reference queue up: the
    loser waits for the winner's commit and then finds its record."""
    return bool(await (await driver(conn)).fetchval(
        _CLAIM_DEBIT, reference, str(status), user_id, amount_cents))


_CLAIM_DEBIT = (
    "INSERT INTO debits (reference, status, user_id, amount_cents) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (reference) DO NOTHING RETURNING reference"
)


async def claim_and_debit(conn: AsyncConnection, reference: uuid.UUID, user_id: uuid.UUID,
                          amount_cents: int) -> tuple[bool, int | None]:
    """A first debit for `reference` in one statement: claim the reference, take the
    money if the balance covers it, and append the history line. (claimed now, the new
    balance or None when the balance is too small); not claimed: nothing was done."""
    row = await (await driver(conn)).fetchrow(
        _CLAIM_AND_DEBIT, reference, str(DebitStatus.DEBITED), user_id, amount_cents,
        uuid.uuid4(), str(TransactionKind.DEBIT))
    assert row is not None
    return bool(row["claimed"]), None if row["balance"] is None else int(row["balance"])


_CLAIM_AND_DEBIT = (
    f"WITH claimed AS ({_CLAIM_DEBIT}), "
    "paid AS (UPDATE accounts SET balance_cents = balance_cents - $4, updated_at = now() "
    "WHERE user_id = $3 AND balance_cents >= $4 AND EXISTS (SELECT 1 FROM claimed) "
    "RETURNING balance_cents), "
    "line AS (INSERT INTO transactions (id, user_id, kind, amount_cents, reference) "
    "SELECT $5, $3, $6, $4, $1 FROM paid) "
    "SELECT EXISTS (SELECT 1 FROM claimed) AS claimed, (SELECT balance_cents FROM paid) "
    "AS balance"
)


_PAY_THEN_CLAIM = (
    "paid AS (UPDATE accounts SET balance_cents = balance_cents - $4, updated_at = now() "
    "WHERE user_id = $3 AND balance_cents >= $4 "
    "AND NOT EXISTS (SELECT 1 FROM debits WHERE reference = $1) RETURNING balance_cents), "
    # no ON CONFLICT: a concurrent first call for the reference fails this statement whole
    "claimed AS (INSERT INTO debits (reference, status, user_id, amount_cents) "
    "SELECT $1, $2, $3, $4 FROM paid RETURNING reference), "
    "line AS (INSERT INTO transactions (id, user_id, kind, amount_cents, reference) "
    "SELECT $5, $3, $6, $4, $1 FROM claimed)"
)


def first_debit(reference: uuid.UUID, user_id: uuid.UUID, amount_cents: int,
                answer: dict[str, Any], events: list[Event]) -> OneStatement:
    """A reference's first debit that the balance covers, as one statement with the
    request's key (what `claim_and_debit` does in that case): a row with the new balance
    (`balance_cents`), or none and nothing written (a repeat, a voided reference, a
    balance too small). It takes the account's row before the reference's, the other
    order from `claim_and_debit`: two first calls for one reference at once, one on each
    path, may deadlock, and PostgreSQL then fails one of them, which is retried."""
    return OneStatement(
        _PAY_THEN_CLAIM, "SELECT balance_cents FROM paid",
        [reference, str(DebitStatus.DEBITED), user_id, amount_cents, uuid.uuid4(),
         str(TransactionKind.DEBIT)], answer, events)


async def lock_debit(conn: AsyncConnection, reference: uuid.UUID) -> dict[str, Any]:
    row = (await conn.execute(
        select(debits.c.reference, debits.c.user_id, debits.c.amount_cents, debits.c.status)
        .where(debits.c.reference == reference).with_for_update()
    )).one()
    return dict(row._mapping)


async def set_debit_status(conn: AsyncConnection, reference: uuid.UUID,
                           status: DebitStatus) -> None:
    await conn.execute(update(debits).where(debits.c.reference == reference)
                       .values(status=status, updated_at=func.now()))


async def audit(conn: AsyncConnection) -> dict[str, Any]:
    """Totals the money checker adds up, and every debit."""
    topups = (await conn.execute(
        select(func.coalesce(func.sum(transactions.c.amount_cents), 0))
        .where(transactions.c.kind == TransactionKind.TOPUP))).scalar_one()
    balances = (await conn.execute(select(
        func.coalesce(func.sum(accounts.c.balance_cents), 0),
        func.count().filter(accounts.c.balance_cents < 0),
    ))).one()
    rows = await conn.execute(
        select(debits.c.reference, debits.c.user_id,
               func.coalesce(debits.c.amount_cents, 0).label("amount_cents"), debits.c.status)
        .order_by(debits.c.created_at, debits.c.reference)
    )
    return {
        "total_topups_cents": int(topups),
        "total_balance_cents": int(balances[0]),
        "negative_accounts": int(balances[1]),
        "debits": [dict(row._mapping) for row in rows],
    }
