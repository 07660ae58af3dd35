"""Ledger's tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
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

from ledger.domain import EntryKind, LedgerAccount, Line, SaleStatus

metadata = MetaData()

entries = Table(
    "entries", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("reference", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
)

lines = Table(
    "lines", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("entry_id", UUID(as_uuid=True), ForeignKey("entries.id"), nullable=False),
    Column("account", Text, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
)

sales = Table(
    "sales", metadata,
    Column("reference", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True)),
    Column("user_id", UUID(as_uuid=True)),
    Column("amount_cents", BigInteger),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)


async def write_entry(conn: AsyncConnection, reference: uuid.UUID, kind: EntryKind,
                      entry_lines: Iterable[Line]) -> uuid.UUID:
    """Append one entry and its lines (a deferred trigger re-checks the balance at commit)."""
    entry_id = uuid.uuid4()
    await conn.execute(entries.insert().values(id=entry_id, reference=reference, kind=kind))
    await conn.execute(lines.insert(), [
        {"entry_id": entry_id, "account": line.account, "amount_cents": line.amount_cents}
        for line in entry_lines
    ])
    return entry_id


async def entry_of(conn: AsyncConnection, reference: uuid.UUID,
                   kind: EntryKind) -> tuple[uuid.UUID, list[Line]]:
    """The reference's entry of `kind` and its lines."""
    rows = (await conn.execute(
        select(entries.c.id, lines.c.account, lines.c.amount_cents)
        .select_from(entries.join(lines))
        .where(entries.c.reference == reference, entries.c.kind == kind)
        .order_by(lines.c.id)
    )).all()
    return rows[0].id, [Line(LedgerAccount(row.account), row.amount_cents) for row in rows]


async def claim_sale(conn: AsyncConnection, reference: uuid.UUID, status: SaleStatus,
                     values: dict[str, Any] | None = None) -> bool:
    """Record the sale's reference unless it has a record; True if recorded now.

    The primary key makes concurrent first calls for one reference queue up: the
    loser waits for the winner's commit and then finds its record."""
    row = (await conn.execute(
        pg_insert(sales).values(reference=reference, status=status, **(values or {}))
        .on_conflict_do_nothing(index_elements=["reference"]).returning(sales.c.reference)
    )).first()
    return row is not None


async def lock_sale_status(conn: AsyncConnection, reference: uuid.UUID) -> SaleStatus:
    status = (await conn.execute(
        select(sales.c.status).where(sales.c.reference == reference).with_for_update()
    )).scalar_one()
    return SaleStatus(status)


async def set_sale_status(conn: AsyncConnection, reference: uuid.UUID,
                          status: SaleStatus) -> None:
    await conn.execute(update(sales).where(sales.c.reference == reference)
                       .values(status=status, updated_at=func.now()))


async def revenue_line_total(conn: AsyncConnection) -> int:
    total = (await conn.execute(
        select(func.coalesce(func.sum(lines.c.amount_cents), 0))
        .where(lines.c.account == LedgerAccount.REVENUE))).scalar_one()
    return int(total)


async def count_entries(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(entries))).scalar_one())


async def count_unbalanced(conn: AsyncConnection) -> int:
    """Entries whose lines do not sum to zero or that have fewer than two lines."""
    per_entry = (
        select(entries.c.id)
        .select_from(entries.outerjoin(lines))
        .group_by(entries.c.id)
        .having((func.coalesce(func.sum(lines.c.amount_cents), 0) != 0)
                | (func.count(lines.c.id) < 2))
        .subquery()
    )
    return int((await conn.execute(select(func.count()).select_from(per_entry))).scalar_one())


async def all_sales(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(sales.c.reference, sales.c.order_id,
               func.coalesce(sales.c.amount_cents, 0).label("amount_cents"), sales.c.status)
        .order_by(sales.c.created_at, sales.c.reference)
    )
    return [dict(row._mapping) for row in rows]
