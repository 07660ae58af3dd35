"""Ledger's published contract: the models of the calls the checkout saga makes
(callers may import this module, nothing else of ledger). Ledger emits no events."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

REFERENCE_VOIDED = "urn:bookstore:reference-voided"


class SaleRequest(BaseModel):
    """`POST /internal/ledger/sales` with `Idempotency-Key: <saga>:<step>`."""

    model_config = ConfigDict(extra="forbid")
    reference: uuid.UUID
    order_id: uuid.UUID
    user_id: uuid.UUID
    amount_cents: int = Field(gt=0, le=100_000_000)


class Sale(BaseModel):
    """The answer to a sale (201)."""

    reference: uuid.UUID
    status: str
    entry_id: uuid.UUID


class Reversal(BaseModel):
    """The answer to a reversal (200): `reversed`, or `voided` when no sale came first."""

    reference: uuid.UUID
    status: str
