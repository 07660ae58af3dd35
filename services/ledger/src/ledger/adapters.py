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
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain import EntryKind, LedgerAccount, Line, SaleStatus
from msa import OneStatement, driver

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
    """Append one entry and its lines, in one statement (a deferred trigger re-checks the
    balance at commit)."""
    entry_id = uuid.uuid4()
    await (await driver(conn)).execute(_WRITE_ENTRY, reference, *_entry_args(entry_id, kind,
                                                                             entry_lines))
    return entry_id


async def claim_with_entry(conn: AsyncConnection, reference: uuid.UUID, status: SaleStatus,
                           values: dict[str, Any], kind: EntryKind,
                           entry_lines: Iterable[Line]) -> uuid.UUID | None:
    """Claim the reference and append its entry with the lines, in one statement: the
    entry's id, or None when the reference had a record (then nothing is written)."""
    return await (await driver(conn)).fetchval(
        _CLAIM_WITH_ENTRY, *_sale_args(reference, status, values),
        *_entry_args(uuid.uuid4(), kind, entry_lines))


def _entry_args(entry_id: uuid.UUID, kind: EntryKind, entry_lines: Iterable[Line]) -> list[Any]:
    written = list(entry_lines)
    return [entry_id, str(kind), [str(line.account) for line in written],
            [line.amount_cents for line in written]]


def _entry_and_lines(source: str, first: int) -> str:
    """The CTEs writing an entry for each reference `source` yields, with its lines
    (parameters from `$first`: entry id, kind, accounts, amounts), then its id."""
    return f"{_entry_ctes(source, first)} SELECT id FROM entry"


def _entry_ctes(source: str, first: int) -> str:
    p = [f"${first + i}" for i in range(4)]
    return (
        f"entry AS (INSERT INTO entries (id, reference, kind) SELECT {p[0]}, reference, {p[1]} "
        f"FROM {source} RETURNING id), "
        "written AS (INSERT INTO lines (entry_id, account, amount_cents) "
        f"SELECT entry.id, l.a, l.c FROM entry, unnest({p[2]}::text[], {p[3]}::bigint[]) "
        "WITH ORDINALITY AS l(a, c, n) ORDER BY l.n)"
    )


_CLAIM_SALE = (
    "INSERT INTO sales (reference, status, order_id, user_id, amount_cents) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reference) DO NOTHING RETURNING reference"
)
_WRITE_ENTRY = ("WITH source AS (SELECT $1::uuid AS reference), "
                + _entry_and_lines("source", 2))
_CLAIM_WITH_ENTRY = f"WITH claimed AS ({_CLAIM_SALE}), " + _entry_and_lines("claimed", 6)


def first_sale(reference: uuid.UUID, status: SaleStatus, values: dict[str, Any],
               kind: EntryKind, entry_lines: Iterable[Line],
               answer: dict[str, Any]) -> OneStatement:
    """A first credit for `reference` as one statement (see `claim_with_entry`): a row
    with the entry's id (`entry_id`) only when the reference was claimed now."""
    return OneStatement(
        f"claimed AS ({_CLAIM_SALE}), {_entry_ctes('claimed', 6)}",
        "SELECT id AS entry_id FROM entry",
        [*_sale_args(reference, status, values),
         *_entry_args(uuid.uuid4(), kind, entry_lines)],
        answer)


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
    return bool(await (await driver(conn)).fetchval(
        _CLAIM_SALE, *_sale_args(reference, status, values or {})))


def _sale_args(reference: uuid.UUID, status: SaleStatus, values: dict[str, Any]) -> list[Any]:
    return [reference, str(status), values.get("order_id"), values.get("user_id"),
            values.get("amount_cents")]


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
