"""Reviews learns who bought what from orders' published events only."""

from __future__ import annotations

from typing import Any

from msa import Delivery, subscribe
from orders.contracts import OrderConfirmed
from reviews import handlers


@subscribe(OrderConfirmed.type)
async def order_confirmed(delivery: Delivery, event: Any) -> None:
    await handlers.record_purchase(delivery.conn, OrderConfirmed.model_validate(event))
