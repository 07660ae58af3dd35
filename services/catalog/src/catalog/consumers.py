"""Catalog keeps a copy of each book's rating from reviews' events (a read model)."""

from __future__ import annotations

from typing import Any

from catalog import adapters
from msa import Delivery, subscribe


@subscribe("reviews.rating.changed.v1")
async def rating_changed(delivery: Delivery, event: Any) -> None:
    data = event if isinstance(event, dict) else event.model_dump()
    await adapters.set_rating(delivery.conn, data["book_id"], float(data["average"]),
                              int(data["count"]), int(data["version"]))
