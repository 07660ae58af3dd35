"""Reviews' tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import driver
from reviews.domain import RatingSummary

metadata = MetaData()

purchases = Table(
    "purchases",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("book_id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
)
reviews = Table(
    "reviews", metadata,
    Column("book_id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("rating", SmallInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

# One row per reviewed book: its summary and the version of its rating events.
book_ratings = Table(
    "book_ratings", metadata,
    Column("book_id", UUID(as_uuid=True), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
)

PUBLIC_COLUMNS = [reviews.c.book_id, reviews.c.user_id, reviews.c.rating, reviews.c.text,
                  reviews.c.created_at, reviews.c.updated_at]


async def lock_book(conn: AsyncConnection, book_id: uuid.UUID, *, create: bool) -> bool:
    """Lock the book's rating row until commit, so its changes and versions go one by one.

    With `create`, a first review makes the row; False if the book has no row.
    """
    if create:
        await conn.execute(pg_insert(book_ratings)
                           .values(book_id=book_id, count=0, total=0, version=0)
                           .on_conflict_do_nothing())
    locked = await conn.execute(select(book_ratings.c.version)
                                .where(book_ratings.c.book_id == book_id).with_for_update())
    return locked.first() is not None


async def upsert_review(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Write the user's review of the book; False if it already said exactly that."""
    statement = pg_insert(reviews).values(**values)
    changed = await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["book_id", "user_id"],
            set_={"rating": statement.excluded.rating, "text": statement.excluded.text,
                  "updated_at": func.now()},
            where=tuple_(reviews.c.rating, reviews.c.text).is_distinct_from(
                tuple_(statement.excluded.rating, statement.excluded.text)),
        ).returning(reviews.c.book_id)
    )
    return changed.first() is not None


async def get_review(conn: AsyncConnection, book_id: uuid.UUID,
                     user_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(*PUBLIC_COLUMNS).where(
        reviews.c.book_id == book_id, reviews.c.user_id == user_id))).mappings().first()
    return dict(row) if row else None


async def delete_review(conn: AsyncConnection, book_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await conn.execute(delete(reviews).where(reviews.c.book_id == book_id,
                                                      reviews.c.user_id == user_id))
    return bool(result.rowcount)


async def summarise(conn: AsyncConnection, book_id: uuid.UUID) -> RatingSummary:
    """Count and sum the book's ratings from the reviews themselves."""
    row = (await conn.execute(
        select(func.count(), func.coalesce(func.sum(reviews.c.rating), 0))
        .where(reviews.c.book_id == book_id)
    )).one()
    return RatingSummary(int(row[0]), int(row[1]))


async def save_summary(conn: AsyncConnection, book_id: uuid.UUID, summary: RatingSummary) -> int:
    """Store the book's new summary; returns the rating's next version."""
    result = await conn.execute(
        update(book_ratings).where(book_ratings.c.book_id == book_id)
        .values(count=summary.count, total=summary.total, version=book_ratings.c.version + 1,
                updated_at=func.now())
        .returning(book_ratings.c.version)
    )
    return int(result.scalar_one())


async def get_summary(conn: AsyncConnection, book_id: uuid.UUID) -> RatingSummary:
    row = (await conn.execute(select(book_ratings.c.count, book_ratings.c.total)
                              .where(book_ratings.c.book_id == book_id))).first()
    return RatingSummary(int(row[0]), int(row[1])) if row else RatingSummary(0, 0)


async def list_reviews(conn: AsyncConnection, book_id: uuid.UUID, *, limit: int,
                       offset: int) -> list[dict[str, Any]]:
    """The book's reviews, newest (last written) first."""
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS).where(reviews.c.book_id == book_id)
        .order_by(reviews.c.updated_at.desc(), reviews.c.user_id).limit(limit).offset(offset)
    )
    return [dict(row) for row in rows.mappings()]


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """Reviews, and books with at least one review."""
    row = (await conn.execute(
        select(func.count(), func.count(func.distinct(reviews.c.book_id)))
    )).one()
    return {"reviews": int(row[0]), "books": int(row[1])}


async def ratings(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every rated book's summary and the version of its latest rating event."""
    rows = await conn.execute(
        select(book_ratings.c.book_id, book_ratings.c.count, book_ratings.c.total,
               book_ratings.c.version)
        .where(book_ratings.c.version > 0).order_by(book_ratings.c.book_id))
    return [{"book_id": row["book_id"], "count": row["count"], "version": row["version"],
             "average": RatingSummary(row["count"], row["total"]).average}
            for row in rows.mappings()]


async def record_purchases(conn: AsyncConnection, order_id: uuid.UUID, user_id: uuid.UUID,
                           book_ids: list[uuid.UUID]) -> None:
    """Remember that `user_id` bought `book_ids` (the first confirmed order of each stays)."""
    if book_ids:  # on the event path: a prepared statement, no SQL to build
        await (await driver(conn)).execute(_RECORD_PURCHASES, user_id, book_ids, order_id)


_RECORD_PURCHASES = (
    "INSERT INTO purchases (user_id, book_id, order_id) "
    "SELECT $1, book_id, $3 FROM unnest($2::uuid[]) AS b(book_id) ON CONFLICT DO NOTHING"
)


async def has_bought(conn: AsyncConnection, user_id: uuid.UUID, book_id: uuid.UUID) -> bool:
    found = await conn.execute(select(purchases.c.order_id).where(
        purchases.c.user_id == user_id, purchases.c.book_id == book_id).limit(1))
    return found.first() is not None
