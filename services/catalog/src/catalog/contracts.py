"""Catalog's published contract: the events it emits."""

from __future__ import annotations

import uuid

from msa import Event


class BookCreated(Event):
    type = "catalog.book.created.v1"
    book_id: uuid.UUID
    isbn: str
    title: str
    author: str
    price_cents: int

    def aggregate(self) -> str:
        return f"book:{self.book_id}"


class BookUpdated(Event):
    type = "catalog.book.updated.v1"
    book_id: uuid.UUID
    title: str
    author: str
    price_cents: int

    def aggregate(self) -> str:
        return f"book:{self.book_id}"
