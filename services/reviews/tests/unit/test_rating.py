"""A book's rating from its reviews."""

from __future__ import annotations

import pytest

from reviews.domain import RatingSummary, clean_text


@pytest.mark.parametrize(("count", "total", "average"), [
    (0, 0, 0.0), (1, 5, 5.0), (3, 13, 4.33), (3, 14, 4.67), (8, 26, 3.25), (200, 601, 3.01),
    (8, 33, 4.13),  # 4.125 rounds half up, not to even
])
def test_the_average_has_two_decimals(count: int, total: int, average: float) -> None:
    assert RatingSummary(count, total).average == average


def test_review_text_is_trimmed() -> None:
    assert clean_text("  great read \n") == "great read"
