"""Inventory's published contract: its event, and the models of the reservation calls
the checkout saga makes (callers may import this module, nothing else of inventory)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from msa import Event

OUT_OF_STOCK = "urn:bookstore:out-of-stock"
REFERENCE_VOIDED = "urn:bookstore:reference-voided"
RESERVATION_COMMITTED = "urn:bookstore:reservation-committed"


class StockChanged(Event):
    """A book's available count changed (one event per book per change)."""

    type = "inventory.stock.changed.v1"
    book_id: uuid.UUID
    available: int

    def aggregate(self) -> str:
        return f"book:{self.book_id}"


class ReservationItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    book_id: uuid.UUID
    quantity: int = Field(gt=0, le=1000)


class ReserveStock(BaseModel):
    """`POST /internal/inventory/reservations` with `Idempotency-Key: <saga>:<step>`."""

    model_config = ConfigDict(extra="forbid")
    reference: uuid.UUID
    items: list[ReservationItem] = Field(min_length=1, max_length=100)
    ttl_seconds: int = Field(default=900, ge=1, le=86_400)


class ReservationOutcome(BaseModel):
    """The answer to release and commit (200)."""

    reference: uuid.UUID
    status: str


class Reservation(ReservationOutcome):
    """The answer to reserve (201)."""

    expires_at: datetime | None
