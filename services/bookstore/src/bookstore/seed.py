"""Seed stock for the catalogue, through inventory's operator API.

Catalog seeds its own books and announces them; inventory learns them from those
events. Once it has, each book with no stock yet receives a deterministic number of
copies. Idempotent: a book that has ever been stocked is left alone, and each
restock carries a key derived from the book, so a repeat changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from msa import MsaError, SystemAccess


def copies_for(book_id: str) -> int:
    """5–40 copies, the same for a book every time."""
    return 5 + int(hashlib.sha256(book_id.encode()).hexdigest(), 16) % 36


async def seed(access: SystemAccess, timeout: float = 30.0) -> str:
    """Stock every book that has none; returns a one-line summary.

    `access` must sign as the operator (`SystemAccess(..., data_dir=...)`)."""
    deadline = time.monotonic() + timeout
    while True:
        books = (await access.get("catalog", "/internal/catalog/audit"))["books"]
        stock = (await access.get("inventory", "/internal/inventory/audit"))["books"]
        if len(stock) >= books:
            break
        if time.monotonic() > deadline:
            raise MsaError(f"inventory knows {len(stock)} of {books} books after {timeout:g}s")
        await asyncio.sleep(0.2)
    empty = [row["book_id"] for row in stock if row["received"] == 0]
    limit = asyncio.Semaphore(16)

    async def restock(book_id: str) -> None:
        async with limit:
            await access.post("inventory", "/internal/inventory/restock",
                              {"book_id": book_id, "quantity": copies_for(book_id)},
                              headers={"Idempotency-Key": f"seed:{book_id}"})

    await asyncio.gather(*(restock(book_id) for book_id in empty))
    return f"stocked {len(empty)} of {books} books"


SEED = seed
