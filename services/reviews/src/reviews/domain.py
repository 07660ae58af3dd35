"""Reviews: one per user per book, and the rating they add up to. No framework, no SQL."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MIN_RATING, MAX_RATING = 1, 5
MAX_TEXT = 4000


@dataclass(frozen=True)
class RatingSummary:
    """How many ratings a book has and their sum."""

    count: int
    total: int

    @property
    def average(self) -> float:
        """The mean rating to two decimals (half up, as people round); 0 with no ratings."""
        if self.count == 0:
            return 0.0
        mean = Decimal(self.total) / Decimal(self.count)
        return float(mean.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def clean_text(text: str) -> str:
    """A review's text without surrounding whitespace."""
    return text.strip()
