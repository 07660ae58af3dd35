"""Reviews over HTTP on real PostgreSQL and NATS: one review per user per book, and the
rating events catalog relies on (versions grow per book, in commit order)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest

from msa.messaging import Broker
from msa.tools.apptest import serve_in_process
from msa.tools.testing import PostgresForTests
from orders.contracts import OrderConfirmed, OrderLine
from reviews.contracts import RatingChanged


@pytest.fixture(scope="module")
async def reviews(msa_postgres: PostgresForTests,
                  msa_nats: str) -> AsyncIterator[httpx.AsyncClient]:
    url = msa_postgres.create_database()
    orders = Broker(msa_nats, "orders-test")  # stands in for orders: confirms purchases
    await orders.connect()
    async with serve_in_process("reviews", database_url=url, nats_url=msa_nats) as http:
        http.orders = orders  # type: ignore[attr-defined]
        http.bought = set()  # type: ignore[attr-defined]
        yield http
    await orders.close()


async def confirm_order(http: httpx.AsyncClient, user: uuid.UUID, *books: uuid.UUID) -> None:
    """Publish orders' confirmation of `user`'s order of `books`, as its relay does."""
    event = OrderConfirmed(order_id=uuid.uuid4(), user_id=user, total_cents=100 * len(books),
                           lines=[OrderLine(book_id=b, quantity=1, price_cents=100)
                                  for b in books])
    headers = {"Nats-Msg-Id": str(event.order_id), "Msa-Event-Id": str(event.order_id),
               "Msa-Event-Type": event.type, "Msa-Aggregate": event.aggregate()}
    await http.orders.publish(event.type, event.model_dump_json().encode(),  # type: ignore
                              headers)


def as_user(user: uuid.UUID, key: str | None = None) -> dict[str, str]:
    """The user's headers with `key`, or a fresh key: every change needs one."""
    return {"X-User-Id": str(user), "X-User-Role": "customer",
            "Idempotency-Key": key or uuid.uuid4().hex}


async def write(http: httpx.AsyncClient, book: uuid.UUID, user: uuid.UUID, rating: Any,
                text: str = "", key: str | None = None) -> httpx.Response:
    if (user, book) not in http.bought:  # type: ignore[attr-defined]
        await confirm_order(http, user, book)  # only buyers review
        http.bought.add((user, book))  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        while True:  # until reviews has heard of the purchase
            answer = await http.put(f"/api/reviews/books/{book}/mine",
                                    json={"rating": rating, "text": text},
                                    headers=as_user(user, key))
            if answer.status_code != 403:
                return answer
            await asyncio.sleep(0.05)


async def rating_events(nats_url: str, book: uuid.UUID, expected: int,
                        seconds: float = 10.0) -> list[dict[str, Any]]:
    """The book's rating events as published, waiting until `expected` have arrived."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            RatingChanged.type, durable=f"test-{uuid.uuid4().hex}", stream="EVENTS_REVIEWS")
        found: list[dict[str, Any]] = []
        async with asyncio.timeout(seconds):
            while len(found) < expected:
                try:
                    batch = await sub.fetch(100, timeout=0.5)
                except nats.errors.TimeoutError:
                    continue
                for msg in batch:
                    payload = json.loads(msg.data)
                    if payload["book_id"] == str(book):
                        found.append(payload)
                    await msg.ack()
        return found
    finally:
        await nc.close()


async def test_reviews_add_up_to_a_rating_with_two_decimals_newest_first(
        reviews: httpx.AsyncClient, msa_nats: str) -> None:
    book, ada, bo, cy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = await write(reviews, book, ada, 5, "  A delight.  ")
    assert first.status_code == 200, first.text
    assert first.json()["text"] == "A delight." and first.json()["user_id"] == str(ada)
    await write(reviews, book, bo, 4, "by bo")
    await write(reviews, book, cy, 4, "by cy")

    page = (await reviews.get(f"/api/reviews/books/{book}")).json()
    assert (page["average"], page["count"]) == (4.33, 3)
    # newest first; the public page names no reviewer
    assert [item["text"] for item in page["items"]] == ["by cy", "by bo", "A delight."]
    assert all("user_id" not in item for item in page["items"])
    second = (await reviews.get(f"/api/reviews/books/{book}?limit=1&offset=1")).json()
    assert [item["text"] for item in second["items"]] == ["by bo"]

    events = await rating_events(msa_nats, book, 3)
    assert [(e["version"], e["count"], e["average"]) for e in events] == [
        (1, 1, 5.0), (2, 2, 4.5), (3, 3, 4.33)]


async def test_changing_and_deleting_a_review_publish_new_versions_but_repeats_do_not(
        reviews: httpx.AsyncClient, msa_nats: str) -> None:
    book, ada = uuid.uuid4(), uuid.uuid4()
    await write(reviews, book, ada, 2, "meh")
    await write(reviews, book, ada, 2, "meh")  # the same again: nothing changes
    changed = await write(reviews, book, ada, 3, "better on a second read")
    assert changed.json()["rating"] == 3
    mine = f"/api/reviews/books/{book}/mine"
    assert (await reviews.delete(mine, headers=as_user(ada))).status_code == 204
    assert (await reviews.delete(mine, headers=as_user(ada))).status_code == 204

    page = (await reviews.get(f"/api/reviews/books/{book}")).json()
    assert page == {"book_id": str(book), "average": 0.0, "count": 0, "items": []}
    events = await rating_events(msa_nats, book, 3)
    assert [(e["version"], e["count"], e["average"]) for e in events] == [
        (1, 1, 2.0), (2, 1, 3.0), (3, 0, 0.0)]


async def test_concurrent_reviews_of_one_book_get_one_version_each_in_order(
        reviews: httpx.AsyncClient, msa_nats: str) -> None:
    book, users = uuid.uuid4(), [uuid.uuid4() for _ in range(8)]
    answers = await asyncio.gather(*(write(reviews, book, user, 1 + i % 5)
                                     for i, user in enumerate(users)))
    assert {answer.status_code for answer in answers} == {200}
    events = await rating_events(msa_nats, book, len(users))
    assert [e["version"] for e in events] == list(range(1, len(users) + 1))
    assert [e["count"] for e in events] == list(range(1, len(users) + 1))
    assert events[-1]["average"] == 2.63  # 21 / 8 = 2.625, rounded half up


async def test_a_late_retry_with_its_key_replays_instead_of_overwriting_a_newer_edit(
        reviews: httpx.AsyncClient) -> None:
    book, ada = uuid.uuid4(), uuid.uuid4()
    first = await write(reviews, book, ada, 4, "good", key="k-1")
    await write(reviews, book, ada, 2, "worse on reflection")
    retry = await write(reviews, book, ada, 4, "good", key="k-1")
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    page = (await reviews.get(f"/api/reviews/books/{book}")).json()
    assert [item["rating"] for item in page["items"]] == [2]

    mine = f"/api/reviews/books/{book}/mine"
    for _ in range(2):
        deleted = await reviews.delete(mine, headers=as_user(ada, "d-1"))
        assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await reviews.get(f"/api/reviews/books/{book}")).json()["count"] == 0


@pytest.mark.parametrize("body", [
    {"rating": 0, "text": ""}, {"rating": 6, "text": ""}, {"rating": "5", "text": ""},
    {"rating": True, "text": ""}, {"rating": 4.5, "text": ""}, {"text": "no rating"},
    {"rating": 4, "text": "x" * 4001}, {"rating": 4, "text": "", "user_id": str(uuid.uuid4())},
])
async def test_bad_input_is_refused_with_422_and_nothing_is_written(
        reviews: httpx.AsyncClient, body: dict[str, Any]) -> None:
    book = uuid.uuid4()
    answer = await reviews.put(f"/api/reviews/books/{book}/mine", json=body,
                               headers=as_user(uuid.uuid4()))
    assert answer.status_code == 422, answer.text
    assert (await reviews.get(f"/api/reviews/books/{book}")).json()["count"] == 0


async def test_only_a_customer_with_a_confirmed_order_of_the_book_may_review_it(
        reviews: httpx.AsyncClient) -> None:
    book, other, reader = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    refused = await reviews.put(f"/api/reviews/books/{book}/mine", json={"rating": 5},
                                headers=as_user(reader))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    await confirm_order(reviews, reader, other)  # bought another book
    assert (await write(reviews, other, reader, 4)).status_code == 200
    still = await reviews.put(f"/api/reviews/books/{book}/mine", json={"rating": 5},
                              headers=as_user(reader))
    assert still.status_code == 403
    page = (await reviews.get(f"/api/reviews/books/{other}")).json()
    assert page["count"] == 1 and "user_id" not in page["items"][0]
    assert page["items"][0]["verified_purchase"] is True


async def test_writing_a_review_needs_a_signed_in_user(reviews: httpx.AsyncClient) -> None:
    answer = await reviews.put(f"/api/reviews/books/{uuid.uuid4()}/mine", json={"rating": 5})
    assert answer.status_code == 401


async def test_the_audit_counts_reviews_and_reviewed_books(reviews: httpx.AsyncClient) -> None:
    before = (await reviews.get("/internal/reviews/audit")).json()
    book = uuid.uuid4()
    await write(reviews, book, uuid.uuid4(), 5)
    await write(reviews, book, uuid.uuid4(), 3)
    after = (await reviews.get("/internal/reviews/audit")).json()
    assert (after["reviews"], after["books"]) == (before["reviews"] + 2, before["books"] + 1)
    mine = [r for r in after["ratings"] if r["book_id"] == str(book)]
    assert mine == [{"book_id": str(book), "count": 2, "version": 2, "average": 4.0}]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_change_without_an_idempotency_key_is_refused_and_writes_nothing(
        reviews: httpx.AsyncClient, method: str) -> None:
    book, ada = uuid.uuid4(), uuid.uuid4()
    await write(reviews, book, ada, 4, "kept")
    answer = await reviews.request(
        method, f"/api/reviews/books/{book}/mine", headers={"X-User-Id": str(ada),
                                                            "X-User-Role": "customer"},
        json={"rating": 1, "text": "overwritten"} if method == "PUT" else None)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    page = (await reviews.get(f"/api/reviews/books/{book}")).json()
    assert [(item["rating"], item["text"]) for item in page["items"]] == [(4, "kept")]


async def test_the_same_key_with_another_review_is_refused_with_422(
        reviews: httpx.AsyncClient) -> None:
    book, ada = uuid.uuid4(), uuid.uuid4()
    assert (await write(reviews, book, ada, 4, "first", key="same")).status_code == 200
    again = await write(reviews, book, ada, 1, "second", key="same")
    assert again.status_code == 422, again.text
    page = (await reviews.get(f"/api/reviews/books/{book}")).json()
    assert [item["rating"] for item in page["items"]] == [4]
