"""Reviews' use cases: each changes a review and publishes the book's new rating at once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from msa import Forbidden, emit
from orders.contracts import OrderConfirmed
from reviews import adapters
from reviews.contracts import RatingChanged


async def record_purchase(conn: AsyncConnection, order: OrderConfirmed) -> None:
    """A confirmed order: its customer has bought its books and may review them."""
    await adapters.record_purchases(conn, order.order_id, order.user_id,
                                    sorted({line.book_id for line in order.lines}))


async def ensure_bought(conn: AsyncConnection, user_id: uuid.UUID, book_id: uuid.UUID) -> None:
    """Forbidden unless the user has a confirmed order of the book (a verified purchase)."""
    if not await adapters.has_bought(conn, user_id, book_id):
        raise Forbidden("only customers with a confirmed order of this book may review it")


async def write_review(conn: AsyncConnection, book_id: uuid.UUID, user_id: uuid.UUID,
                       rating: int, text: str) -> dict[str, Any]:
    """Create or replace the user's review; a repeat of the same review changes nothing."""
    # Lock first: the summary read below then sees every review committed before us,
    # and versions follow the order of commits.
    await adapters.lock_book(conn, book_id, create=True)
    values = {"book_id": book_id, "user_id": user_id, "rating": rating, "text": text}
    if await adapters.upsert_review(conn, values):
        await _publish_rating(conn, book_id)
    review = await adapters.get_review(conn, book_id, user_id)
    assert review is not None
    return review


async def remove_review(conn: AsyncConnection, book_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Delete the user's review if there is one (deleting twice is not an error)."""
    if (await adapters.lock_book(conn, book_id, create=False)
            and await adapters.delete_review(conn, book_id, user_id)):
        await _publish_rating(conn, book_id)


async def _publish_rating(conn: AsyncConnection, book_id: uuid.UUID) -> None:
    summary = await adapters.summarise(conn, book_id)
    version = await adapters.save_summary(conn, book_id, summary)
    await emit(conn, RatingChanged(book_id=book_id, average=summary.average,
                                   count=summary.count, version=version))


async def book_reviews(conn: AsyncConnection, book_id: uuid.UUID, *, limit: int,
                       offset: int) -> dict[str, Any]:
    """A page of the book's reviews with its rating."""
    summary = await adapters.get_summary(conn, book_id)
    items = await adapters.list_reviews(conn, book_id, limit=limit, offset=offset)
    return {"book_id": book_id, "average": summary.average, "count": summary.count,
            "items": items}
