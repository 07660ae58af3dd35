"""Store-credit accounts: the rules, with no framework and no SQL.

Money is integer cents and a balance never goes below zero. A debit is keyed by the
checkout's reference; debit and refund for one reference commute: a refund that
arrives first leaves a tombstone that refuses the debit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum


class DebitStatus(StrEnum):
    DEBITED = "debited"
    REFUNDED = "refunded"
    VOIDED = "voided"  # a tombstone: the refund came before (or instead of) the debit


class TransactionKind(StrEnum):
    TOPUP = "topup"
    DEBIT = "debit"
    REFUND = "refund"


class InsufficientFunds(Exception):
    """The balance is smaller than the amount to debit."""


class DebitVoided(Exception):
    """The reference was refunded or voided: it cannot be debited any more."""


@dataclass(frozen=True)
class Account:
    """A customer's store credit; every change returns a new Account."""

    user_id: uuid.UUID
    balance_cents: int = 0

    def __post_init__(self) -> None:
        if self.balance_cents < 0:
            raise ValueError(f"the balance of {self.user_id} would be below zero")

    def credit(self, amount_cents: int) -> Account:
        """Money in: a top-up or a refund."""
        return replace(self, balance_cents=self.balance_cents + _cents(amount_cents))

    def debit(self, amount_cents: int) -> Account:
        """Money out; InsufficientFunds if the balance is too small."""
        if _cents(amount_cents) > self.balance_cents:
            raise InsufficientFunds(
                f"balance {self.balance_cents} is less than {amount_cents} cents")
        return replace(self, balance_cents=self.balance_cents - amount_cents)


def _cents(amount: int) -> int:
    if amount <= 0:
        raise ValueError(f"an amount must be positive, not {amount}")
    return amount


def debit_again(status: DebitStatus) -> None:
    """A debit for a reference that has a record: a repeat, unless it was refunded or voided."""
    if status is not DebitStatus.DEBITED:
        raise DebitVoided


def needs_refund(status: DebitStatus) -> bool:
    """Whether a refund must give money back (otherwise it only answers the status)."""
    return status is DebitStatus.DEBITED
