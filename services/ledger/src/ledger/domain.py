"""The store's double-entry book: the rules, with no framework and no SQL.

An entry is a set of lines on accounts whose amounts sum to zero; debits are
positive, credits negative. A sale debits the customer's credit and credits the
store's revenue; its reversal is the same lines negated. Sale and reversal for one
reference commute: a reversal that arrives first leaves a tombstone that refuses
the sale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class LedgerAccount(StrEnum):
    REVENUE = "revenue"
    CUSTOMER_CREDIT = "customer_credit"


class EntryKind(StrEnum):
    SALE = "sale"
    REVERSAL = "reversal"


class SaleStatus(StrEnum):
    CREDITED = "credited"
    REVERSED = "reversed"
    VOIDED = "voided"  # a tombstone: the reversal came before (or instead of) the sale


class UnbalancedEntry(ValueError):
    """An entry whose lines do not sum to zero (or that has fewer than two lines)."""


class SaleVoided(Exception):
    """The reference was reversed or voided: it cannot be credited any more."""


@dataclass(frozen=True)
class Line:
    account: LedgerAccount
    amount_cents: int


def balanced(lines: Iterable[Line]) -> tuple[Line, ...]:
    """The lines of one entry, checked: at least two, none zero, summing to zero."""
    entry = tuple(lines)
    total = sum(line.amount_cents for line in entry)
    if len(entry) < 2 or total != 0 or any(line.amount_cents == 0 for line in entry):
        raise UnbalancedEntry(f"an entry's lines must sum to zero; these sum to {total}")
    return entry


def sale_lines(amount_cents: int) -> tuple[Line, ...]:
    """A sale: the customer's credit is debited and the store's revenue credited."""
    if amount_cents <= 0:
        raise ValueError(f"a sale must be positive, not {amount_cents}")
    return balanced([Line(LedgerAccount.CUSTOMER_CREDIT, amount_cents),
                     Line(LedgerAccount.REVENUE, -amount_cents)])


def reversal_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """The entry that cancels `lines`."""
    return balanced(Line(line.account, -line.amount_cents) for line in lines)


def revenue_cents(revenue_line_total: int) -> int:
    """Revenue is a credit balance: the negated sum of the revenue account's lines."""
    return -revenue_line_total


def credit_again(status: SaleStatus) -> None:
    """A sale for a reference that has a record: a repeat, unless it was reversed or voided."""
    if status is not SaleStatus.CREDITED:
        raise SaleVoided


def needs_reversal(status: SaleStatus) -> bool:
    """Whether a reversal must write the cancelling entry (otherwise it answers the status)."""
    return status is SaleStatus.CREDITED
