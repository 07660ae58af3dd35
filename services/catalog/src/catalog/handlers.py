"""Catalog's use cases: each changes state and records its events in one transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from catalog import adapters
from catalog.contracts import BookCreated, BookUpdated
from catalog.domain import book_id_for
from catalog.seed import seed_books
from msa import Conflict, NotFound, Runtime, emit


async def create_book(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    book_id = book_id_for(values["isbn"])
    if not await adapters.insert_book(conn, {**values, "id": book_id, "currency": "EUR"}):
        raise Conflict(f"a book with ISBN {values['isbn']} exists")
    await emit(conn, BookCreated(book_id=book_id, isbn=values["isbn"], title=values["title"],
                                 author=values["author"], price_cents=values["price_cents"]))
    book = await adapters.get_book(conn, book_id)
    assert book is not None
    return book


async def change_book(conn: AsyncConnection, book_id: uuid.UUID,
                      changes: dict[str, Any]) -> dict[str, Any]:
    book = (await adapters.update_book(conn, book_id, changes) if changes
            else await adapters.get_book(conn, book_id))
    if book is None:
        raise NotFound(f"no book {book_id}")
    if changes:
        await emit(conn, BookUpdated(book_id=book_id, title=book["title"], author=book["author"],
                                     price_cents=book["price_cents"]))
    return book


async def load_seed(runtime: Runtime) -> None:
    """Insert the seed catalogue once (books already there are left alone)."""
    seed = seed_books()
    seeded = [book_id_for(b.isbn) for b in seed]
    rows = [
        {"id": book_id, "isbn": b.isbn, "title": b.title, "author": b.author,
         "price_cents": b.price_cents, "currency": "EUR", "year": b.year,
         "description": b.description}
        for book_id, b in zip(seeded, seed, strict=True)
    ]
    async with runtime.db.begin() as conn:
        if await adapters.count_books(conn, among=seeded) == len(seeded):
            return  # every seed book is there already: nothing to insert or announce
        inserted = set(await adapters.insert_many(conn, rows))
        for row in rows:
            if row["id"] in inserted:
                await emit(conn, BookCreated(book_id=row["id"], isbn=row["isbn"],
                                             title=row["title"], author=row["author"],
                                             price_cents=row["price_cents"]))
