"""Aggregated views the gateway composes from several services.

The book page needs the book (required), its stock and its reviews (optional):
optional parts that fail or are slow are marked unavailable, never fatal.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from msa import NotFound, Problem, RemoteProblem, Runtime, ServiceCallError

PART_TIMEOUT = 1.0


async def _optional(call: Any) -> dict[str, Any]:
    """`{"available": true, "data": ...}`, or `{"available": false, "data": null}`."""
    try:
        return {"available": True, "data": await call}
    except ServiceCallError:
        return {"available": False, "data": None}


async def book_page(rt: Runtime, book_id: uuid.UUID) -> dict[str, Any]:
    """The book with its stock and top reviews, fetched in parallel."""
    book_call = rt.client("catalog").get_json(f"/api/catalog/books/{book_id}",
                                              timeout=PART_TIMEOUT * 2)
    stock_call = rt.client("inventory").get_json(f"/api/inventory/stock/{book_id}",
                                                 timeout=PART_TIMEOUT)
    reviews_call = rt.client("reviews").get_json(f"/api/reviews/books/{book_id}",
                                                 params={"limit": 3}, timeout=PART_TIMEOUT)
    book_task = asyncio.ensure_future(book_call)
    stock, reviews = await asyncio.gather(_optional(stock_call), _optional(reviews_call))
    try:
        book = await book_task
    except RemoteProblem as exc:
        if exc.status == 404:
            raise NotFound(f"no book {book_id}") from None
        raise Problem("the catalog cannot answer", status=503,
                      title="Service unavailable") from None
    except ServiceCallError:
        raise Problem("the catalog cannot answer", status=503,
                      title="Service unavailable") from None
    return {"book": book, "stock": stock, "reviews": reviews}
