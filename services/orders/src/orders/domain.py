"""Orders: the rules of a cart and an order. No framework, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_QUANTITY = 100
"""Copies of one book a cart line may hold."""
MAX_CART_LINES = 100
"""Distinct books one cart may hold, so that every cart can be checked out: a checkout
prices them in one catalog look-up (at most 200 ids) and reserves them in one inventory
reservation (at most 100 lines)."""


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class PricedLine:
    book_id: str
    title: str
    quantity: int
    price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.price_cents


def order_total(lines: list[PricedLine]) -> int:
    """The order's total: the sum of its lines at the prices taken at checkout."""
    return sum(line.total_cents for line in lines)


def cancellation_reason(step: str, problem_type: str, detail: str) -> str:
    """A customer-readable reason from the step that failed and the participant's answer."""
    if problem_type.endswith("out-of-stock"):
        return "not enough stock"
    if problem_type.endswith("insufficient-funds"):
        return "not enough credit"
    return detail or f"{step} failed"


def cart_full() -> str:
    """Why a full cart takes no new line."""
    return f"a cart holds at most {MAX_CART_LINES} different books"


def line_too_long() -> str:
    """Why a cart line takes no more copies."""
    return f"a cart line holds at most {MAX_QUANTITY} copies"
