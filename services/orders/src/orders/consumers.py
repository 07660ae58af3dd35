"""Orders keeps the books' titles and prices from catalog's events (a read model), so a
cart change or a checkout does not ask catalog synchronously."""

from __future__ import annotations

from catalog.contracts import BookCreated, BookUpdated
from msa import Delivery, subscribe
from orders import adapters


@subscribe(BookCreated.type)
async def book_created(delivery: Delivery, event: BookCreated) -> None:
    await adapters.set_book(delivery.conn, event.book_id, event.title, event.price_cents)


@subscribe(BookUpdated.type)
async def book_updated(delivery: Delivery, event: BookUpdated) -> None:
    await adapters.set_book(delivery.conn, event.book_id, event.title, event.price_cents)
