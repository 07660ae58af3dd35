"""Orders' published contract: the events of an order's life."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from msa import Event


class OrderLine(BaseModel):
    book_id: uuid.UUID
    quantity: int
    price_cents: int


class OrderPlaced(Event):
    type = "orders.order.placed.v1"
    order_id: uuid.UUID
    user_id: uuid.UUID
    total_cents: int
    lines: list[OrderLine]

    def aggregate(self) -> str:
        return f"order:{self.order_id}"


class OrderConfirmed(Event):
    type = "orders.order.confirmed.v1"
    order_id: uuid.UUID
    user_id: uuid.UUID
    total_cents: int
    lines: list[OrderLine]

    def aggregate(self) -> str:
        return f"order:{self.order_id}"


class OrderCancelled(Event):
    type = "orders.order.cancelled.v1"
    order_id: uuid.UUID
    user_id: uuid.UUID
    reason: str

    def aggregate(self) -> str:
        return f"order:{self.order_id}"
