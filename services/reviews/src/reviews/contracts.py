"""Reviews' published contract: the events it emits."""

from __future__ import annotations

import uuid

from msa import Event


class RatingChanged(Event):
    """A book's rating after a review was written, changed or removed.

    `version` grows by one with every change of the book's rating, so a consumer
    keeps only the newest (events may arrive late or twice). `average` has two
    decimals and is 0 when `count` is 0.
    """

    type = "reviews.rating.changed.v1"
    book_id: uuid.UUID
    average: float
    count: int
    version: int

    def aggregate(self) -> str:
        return f"book:{self.book_id}"
