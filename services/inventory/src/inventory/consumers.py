"""Inventory learns of new books from the catalog's events: each gets an empty stock row."""

from __future__ import annotations

from catalog.contracts import BookCreated
from inventory import handlers
from msa import Delivery, subscribe


@subscribe(BookCreated.type)
async def book_created(delivery: Delivery, event: BookCreated) -> None:
    await handlers.add_book(delivery.conn, event.book_id)
