"""Wallet's published contract: its events, and the models of the debit calls the
checkout saga makes (callers may import this module, nothing else of wallet)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from msa import Event

INSUFFICIENT_FUNDS = "urn:bookstore:insufficient-funds"
REFERENCE_VOIDED = "urn:bookstore:reference-voided"


class AccountCredited(Event):
    """Money entered an account: a top-up (reference = its transaction id) or a refund
    (reference = the checkout's reference)."""

    type = "wallet.account.credited.v1"
    user_id: uuid.UUID
    amount_cents: int
    balance_cents: int
    reference: uuid.UUID
    kind: Literal["topup", "refund"] = "topup"

    def aggregate(self) -> str:
        return f"account:{self.user_id}"


class AccountDebited(Event):
    """Money left an account to pay for a checkout."""

    type = "wallet.account.debited.v1"
    user_id: uuid.UUID
    amount_cents: int
    balance_cents: int
    reference: uuid.UUID

    def aggregate(self) -> str:
        return f"account:{self.user_id}"


class DebitRequest(BaseModel):
    """`POST /internal/wallet/debits` with `Idempotency-Key: <saga>:<step>`."""

    model_config = ConfigDict(extra="forbid")
    reference: uuid.UUID
    user_id: uuid.UUID
    amount_cents: int = Field(gt=0, le=100_000_000)


class Debit(BaseModel):
    """The answer to a debit (201)."""

    reference: uuid.UUID
    status: str
    balance_cents: int


class Refund(BaseModel):
    """The answer to a refund (200): `refunded`, or `voided` when no debit came first."""

    reference: uuid.UUID
    status: str
