"""Only buyers review, and the public page does not say who they are."""

from __future__ import annotations

import pytest

from tests.shop import Bookstore

pytestmark = pytest.mark.parametrize("bookstore", ["process"], indirect=True)


async def test_a_customer_without_a_confirmed_order_cannot_review_and_buyers_stay_anonymous(
        bookstore: Bookstore):
    book = await bookstore.new_book(copies=2)
    stranger = await bookstore.customer()
    before = await bookstore.written(stranger)
    refused = await stranger.call("PUT", f"/api/reviews/books/{book}/mine",
                                  {"rating": 1, "text": "never read it"})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await bookstore.written(stranger) == before
    buyer = await bookstore.buyer(book)
    written = await buyer.review(book, 5, "bought and loved it")
    assert written.status_code == 200, written.text
    page = (await bookstore.http.get(f"/api/reviews/books/{book}")).json()
    assert page["count"] == 1
    assert page["items"][0]["verified_purchase"] is True
    assert buyer.user_id not in str(page) and "user_id" not in page["items"][0]
    mine = await buyer.call("GET", f"/api/reviews/books/{book}/mine")
    assert mine.status_code == 200 and mine.json()["rating"] == 5
