"""Notifications' use cases: an order event becomes one message for the order's user."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from msa import NotFound
from notifications import adapters
from notifications.domain import CANCELLED, CONFIRMED, cancelled_text, confirmed_text
from orders.contracts import OrderCancelled, OrderConfirmed


async def order_confirmed(conn: AsyncConnection, event_id: uuid.UUID,
                          event: OrderConfirmed) -> None:
    books = sum(line.quantity for line in event.lines)
    await adapters.insert_message(conn, {
        "user_id": event.user_id, "order_id": event.order_id, "kind": CONFIRMED,
        "text": confirmed_text(event.order_id, books, event.total_cents),
        "source_event_id": event_id,
    })


async def order_cancelled(conn: AsyncConnection, event_id: uuid.UUID,
                          event: OrderCancelled) -> None:
    await adapters.insert_message(conn, {
        "user_id": event.user_id, "order_id": event.order_id, "kind": CANCELLED,
        "text": cancelled_text(event.order_id, event.reason), "source_event_id": event_id,
    })


async def mark_read(conn: AsyncConnection, message_id: uuid.UUID,
                    user_id: uuid.UUID) -> dict[str, Any]:
    """Another user's message is answered exactly like a missing one."""
    message = await adapters.mark_read(conn, message_id, user_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    return message
