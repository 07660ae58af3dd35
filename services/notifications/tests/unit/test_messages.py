"""What a customer reads about their order."""

from __future__ import annotations

import uuid

import pytest

from notifications.domain import cancelled_text, confirmed_text, euros

ORDER = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000")


@pytest.mark.parametrize(("cents", "text"), [(0, "€0.00"), (5, "€0.05"), (4197, "€41.97"),
                                             (100000, "€1000.00"), (-250, "-€2.50")])
def test_money_reads_as_euros(cents: int, text: str) -> None:
    assert euros(cents) == text


def test_a_confirmed_order_names_its_books_and_total() -> None:
    assert confirmed_text(ORDER, 3, 4197) == "Order 1a2b3c4d confirmed: 3 books, total €41.97"
    assert confirmed_text(ORDER, 1, 999) == "Order 1a2b3c4d confirmed: 1 book, total €9.99"


def test_a_cancelled_order_gives_its_reason_on_one_line() -> None:
    assert cancelled_text(ORDER, "not enough\ncredit ") == (
        "Order 1a2b3c4d cancelled: not enough credit")
    assert cancelled_text(ORDER, "") == "Order 1a2b3c4d cancelled: no reason given"
    assert len(cancelled_text(ORDER, "x" * 5000)) < 600
