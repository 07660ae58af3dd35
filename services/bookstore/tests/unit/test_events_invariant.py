"""The events invariant on hand-made audit views: duplicates and lost or stale ratings show."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from bookstore.invariants import events, quiet

BOOK, OTHER, UNKNOWN = (str(uuid.uuid4()) for _ in range(3))
CONSUMER = "inventory__catalog_book_created_v1"


def _rating(book: str, average: float, count: int, version: int) -> dict[str, Any]:
    return {"book_id": book, "average": average, "count": count, "version": version}


def _views() -> dict[tuple[str, str], Any]:
    """A quiet, consistent system: two books, one rated twice, one unknown book rated."""
    return {
        ("orders", "/internal/orders/audit"): {"orders": []},
        ("orders", "/internal/sagas/audit"): {"counts": {}},
        ("notifications", "/internal/notifications/audit"): {"messages": 0, "events": []},
        ("catalog", "/internal/catalog/audit"): {
            "books": 2, "ratings": [_rating(BOOK, 4.5, 2, 2)]},
        ("inventory", "/internal/inventory/audit"): {
            "books": [{"book_id": BOOK}, {"book_id": OTHER}], "reservations": [],
            "handled": [{"consumer": CONSUMER, "event_type": "catalog.book.created.v1",
                         "events": 2}]},
        ("reviews", "/internal/reviews/audit"): {
            "reviews": 3, "books": 2,
            "ratings": [_rating(BOOK, 4.5, 2, 2), _rating(UNKNOWN, 3.0, 1, 1)]},
    }


class FakeAccess:
    """Answers audit reads from `views`; the catalog's book lookup from its known ids."""

    def __init__(self, views: dict[tuple[str, str], Any], books: set[str]) -> None:
        self.views, self.books = views, books

    async def get(self, service: str, path: str, **params: Any) -> Any:
        if (service, path) == ("catalog", "/internal/catalog/books"):
            return [{"id": book} for book in params["ids"] if book in self.books]
        return copy.deepcopy(self.views[(service, path)])


def _access(views: dict[tuple[str, str], Any]) -> Any:
    return FakeAccess(views, {BOOK, OTHER})


async def test_a_consistent_system_passes_and_counts_rated_books_and_book_events():
    result = await events(_access(_views()))
    assert result.violations == []
    assert (result.counts["rated_books"], result.counts["book_events_handled"]) == (1, 2)
    assert await quiet(_access(_views())) is None


async def test_a_book_event_handled_twice_shows_though_the_stock_rows_agree():
    views = _views()
    views[("inventory", "/internal/inventory/audit")]["handled"][0]["events"] = 3
    result = await events(_access(views))
    assert result.violations == ["inventory handled 3 book events for 2 books: 1 more than once"]


async def test_a_rating_catalog_never_got_or_got_wrong_shows():
    views = _views()
    views[("catalog", "/internal/catalog/audit")]["ratings"] = [_rating(BOOK, 4.0, 1, 1)]
    assert await quiet(_access(views)) == "1 rating event(s) not yet delivered"
    behind = (await events(_access(views))).violations
    assert behind == [f"book {BOOK}: catalog holds rating version 1 but reviews published 2"]

    views[("catalog", "/internal/catalog/audit")]["ratings"] = [
        _rating(BOOK, 4.0, 2, 2), _rating(OTHER, 5.0, 1, 1)]
    wrong = (await events(_access(views))).violations
    assert wrong == [
        f"book {BOOK}: catalog holds average 4.0 of 2 (version 2) but reviews published "
        "average 4.5 of 2 (version 2)",
        f"book {OTHER}: catalog holds average 5.0 of 1 (version 1) that reviews never published"]
