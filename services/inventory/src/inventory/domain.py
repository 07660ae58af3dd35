"""Stock and reservations: the rules, with no framework and no SQL.

A book's stock is four counters with `available + reserved + sold = received`, none
below zero. A reservation moves copies from available to reserved; releasing moves
them back, committing moves them on to sold. Reserve and release for one reference
commute: a release that arrives first leaves a tombstone that refuses the reserve.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"
    VOIDED = "voided"  # a tombstone: the release came before (or instead of) the reserve
    EXPIRED = "expired"
    COMMITTED = "committed"


class OutOfStock(Exception):
    """Not enough copies available for some books of a request."""

    def __init__(self, book_ids: list[uuid.UUID]) -> None:
        super().__init__("not enough copies of " + ", ".join(map(str, book_ids)))
        self.book_ids = book_ids


class ReferenceVoided(Exception):
    """The reference was released or voided: its reservation cannot be made any more."""


class ReservationFinal(Exception):
    """A committed reservation is sold stock: it cannot be released."""


@dataclass(frozen=True)
class Stock:
    """One book's counters; every change returns a new Stock that keeps the invariant."""

    book_id: uuid.UUID
    received: int = 0
    available: int = 0
    reserved: int = 0
    sold: int = 0

    def __post_init__(self) -> None:
        counters = (self.received, self.available, self.reserved, self.sold)
        if min(counters) < 0 or self.available + self.reserved + self.sold != self.received:
            raise ValueError(f"stock of {self.book_id} is inconsistent: {counters}")

    def restock(self, quantity: int) -> Stock:
        """Copies arrive: they are received and available."""
        return replace(self, received=self.received + _positive(quantity),
                       available=self.available + quantity)

    def reserve(self, quantity: int) -> Stock:
        """Hold copies for a checkout; OutOfStock if too few are available."""
        if _positive(quantity) > self.available:
            raise OutOfStock([self.book_id])
        return replace(self, available=self.available - quantity,
                       reserved=self.reserved + quantity)

    def release(self, quantity: int) -> Stock:
        """Give held copies back."""
        return replace(self, available=self.available + _positive(quantity),
                       reserved=self.reserved - quantity)

    def commit(self, quantity: int) -> Stock:
        """Held copies are sold."""
        return replace(self, reserved=self.reserved - _positive(quantity),
                       sold=self.sold + quantity)

    def sell_available(self, quantity: int) -> Stock:
        """Sell copies straight from available (the hold had expired); OutOfStock if too few."""
        return self.reserve(quantity).commit(quantity)


def _positive(quantity: int) -> int:
    if quantity <= 0:
        raise ValueError(f"a quantity must be positive, not {quantity}")
    return quantity


def merge_items(items: Iterable[tuple[uuid.UUID, int]]) -> dict[uuid.UUID, int]:
    """Quantities per book, sorted by book id: rows are always locked in this order,
    so two requests never wait on each other in a cycle."""
    merged: dict[uuid.UUID, int] = {}
    for book_id, quantity in items:
        merged[book_id] = merged.get(book_id, 0) + _positive(quantity)
    return dict(sorted(merged.items()))


def reserve_again(status: ReservationStatus) -> None:
    """A reserve for a reference that has a record: a repeat, unless it was voided."""
    if status in (ReservationStatus.RELEASED, ReservationStatus.VOIDED):
        raise ReferenceVoided


def needs_release(status: ReservationStatus) -> bool:
    """Whether a release must give stock back (otherwise it is a no-op answering status)."""
    if status is ReservationStatus.COMMITTED:
        raise ReservationFinal
    return status is ReservationStatus.RESERVED


def commit_source(status: ReservationStatus) -> str | None:
    """Where a commit takes its copies from: 'reserved', 'available' (the hold expired),
    or None when it is already committed."""
    if status in (ReservationStatus.RELEASED, ReservationStatus.VOIDED):
        raise ReferenceVoided
    if status is ReservationStatus.COMMITTED:
        return None
    return "reserved" if status is ReservationStatus.RESERVED else "available"
