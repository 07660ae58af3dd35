"""Catalog's tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

books = Table(
    "books", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("isbn", Text, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("currency", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("rating_avg", Numeric(3, 2)),
    Column("rating_count", Integer, nullable=False),
    Column("rating_version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

PUBLIC_COLUMNS = [
    books.c.id, books.c.isbn, books.c.title, books.c.author, books.c.price_cents,
    books.c.currency, books.c.year, books.c.description, books.c.rating_avg,
    books.c.rating_count,
]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


BookOrder = Literal["title", "new", "rating"]
"""How a page of books is ordered."""
_ORDER_BY = {
    "title": (books.c.title, books.c.id),
    "new": (books.c.created_at.desc(), books.c.id),
    "rating": (books.c.rating_avg.desc().nulls_last(), books.c.rating_count.desc(), books.c.id),
}


async def list_books(conn: AsyncConnection, *, q: str | None, author: str | None,
                     limit: int, offset: int,
                     sort: BookOrder = "title") -> tuple[list[dict[str, Any]], int]:
    conditions = []
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        conditions.append(or_(func.lower(books.c.title).like(pattern, escape="\\"),
                              func.lower(books.c.author).like(pattern, escape="\\")))
    if author:
        conditions.append(func.lower(books.c.author) == author.lower())
    query = select(*PUBLIC_COLUMNS).where(*conditions).order_by(*_ORDER_BY[sort])
    rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    total = (await conn.execute(
        select(func.count()).select_from(books).where(*conditions))).scalar_one()
    return [dict(row) for row in rows], int(total)


async def get_book(conn: AsyncConnection, book_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(*PUBLIC_COLUMNS).where(books.c.id == book_id))).mappings()
    first = row.first()
    return dict(first) if first else None


async def get_by_isbn(conn: AsyncConnection, isbn: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(*PUBLIC_COLUMNS).where(books.c.isbn == isbn))).mappings()
    first = row.first()
    return dict(first) if first else None


async def get_many(conn: AsyncConnection, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows = (await conn.execute(select(*PUBLIC_COLUMNS).where(books.c.id.in_(ids)))).mappings()
    return [dict(row) for row in rows]


async def insert_book(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert unless the ISBN exists; True if inserted."""
    result = await conn.execute(
        pg_insert(books).values(**values, rating_count=0, rating_version=0)
        .on_conflict_do_nothing(index_elements=["isbn"]).returning(books.c.id)
    )
    return result.first() is not None


async def insert_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert the books whose ISBN is new; returns the ids inserted."""
    result = await conn.execute(
        pg_insert(books).values([{**row, "rating_count": 0, "rating_version": 0} for row in rows])
        .on_conflict_do_nothing(index_elements=["isbn"]).returning(books.c.id)
    )
    return [row[0] for row in result]


async def update_book(conn: AsyncConnection, book_id: uuid.UUID,
                      changes: dict[str, Any]) -> dict[str, Any] | None:
    result = await conn.execute(
        update(books).where(books.c.id == book_id)
        .values(**changes, updated_at=func.now()).returning(*PUBLIC_COLUMNS)
    )
    row = result.mappings().first()
    return dict(row) if row else None


async def set_rating(conn: AsyncConnection, book_id: uuid.UUID, average: float, count: int,
                     version: int) -> None:
    """Apply a rating only if it is newer than the one held (events may arrive late)."""
    await conn.execute(
        update(books)
        .where(books.c.id == book_id, books.c.rating_version < version)
        .values(rating_avg=average, rating_count=count, rating_version=version)
    )


async def count_books(conn: AsyncConnection, among: list[uuid.UUID] | None = None) -> int:
    """How many books there are (of those with the ids `among`, if given)."""
    query = select(func.count()).select_from(books)
    if among is not None:
        query = query.where(books.c.id.in_(among))
    return int((await conn.execute(query)).scalar_one())


async def ratings(conn: AsyncConnection) -> list[dict[str, Any]]:
    """The rating held for every book that has received one, with its event version."""
    rows = await conn.execute(
        select(books.c.id, books.c.rating_avg, books.c.rating_count, books.c.rating_version)
        .where(books.c.rating_version > 0).order_by(books.c.id))
    return [{"book_id": row["id"], "count": row["rating_count"], "version": row["rating_version"],
             "average": float(row["rating_avg"] or 0)} for row in rows.mappings()]
