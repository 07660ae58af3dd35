"""Books: identity and the rules a book's data must follow. No framework, no SQL."""

from __future__ import annotations

import uuid

BOOK_NAMESPACE = uuid.UUID("5b0e2d3c-8a1f-4b7e-9c39-2f1d6b5a7e10")


def isbn13_check_digit(first12: str) -> int:
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def is_valid_isbn13(isbn: str) -> bool:
    """True for 13 digits starting 978/979 with a correct check digit."""
    return (
        len(isbn) == 13
        and isbn.isdigit()
        and isbn[:3] in ("978", "979")
        and isbn13_check_digit(isbn[:12]) == int(isbn[12])
    )


def normalise_isbn(raw: str) -> str:
    return raw.replace("-", "").replace(" ", "")


def book_id_for(isbn: str) -> uuid.UUID:
    """A book's id is derived from its ISBN, so seeding is repeatable everywhere."""
    return uuid.uuid5(BOOK_NAMESPACE, isbn)
