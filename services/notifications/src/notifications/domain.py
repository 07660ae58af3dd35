"""Messages to customers about their orders: what they say. No framework, no SQL."""

from __future__ import annotations

import uuid

CONFIRMED, CANCELLED = "confirmed", "cancelled"
MAX_REASON = 500


def short_id(order_id: uuid.UUID) -> str:
    """The first eight hex digits: enough for a person to tell their orders apart."""
    return order_id.hex[:8]


def euros(cents: int) -> str:
    """`1234` → `€12.34` (money is integer cents; no float ever touches it)."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}€{whole}.{rest:02d}"


def confirmed_text(order_id: uuid.UUID, books: int, total_cents: int) -> str:
    """E.g. `Order 1a2b3c4d confirmed: 3 books, total €41.97`."""
    noun = "book" if books == 1 else "books"
    return f"Order {short_id(order_id)} confirmed: {books} {noun}, total {euros(total_cents)}"


def cancelled_text(order_id: uuid.UUID, reason: str) -> str:
    """E.g. `Order 1a2b3c4d cancelled: not enough credit`."""
    reason = " ".join(reason.split())[:MAX_REASON] or "no reason given"
    return f"Order {short_id(order_id)} cancelled: {reason}"
