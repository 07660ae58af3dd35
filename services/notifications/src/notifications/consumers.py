"""Notifications learns about orders from their published events only."""

from __future__ import annotations

from typing import Any

from msa import Delivery, subscribe
from notifications import handlers
from orders.contracts import OrderCancelled, OrderConfirmed


@subscribe(OrderConfirmed.type)
async def order_confirmed(delivery: Delivery, event: Any) -> None:
    await handlers.order_confirmed(delivery.conn, delivery.event_id,
                                   OrderConfirmed.model_validate(event))


@subscribe(OrderCancelled.type)
async def order_cancelled(delivery: Delivery, event: Any) -> None:
    await handlers.order_cancelled(delivery.conn, delivery.event_id,
                                   OrderCancelled.model_validate(event))
