"""Every state-changing operation of the public API requires an Idempotency-Key.

The operations come from the services' own OpenAPI documents (`tests.api_surface`), so a
new POST, PUT, PATCH or DELETE cannot escape. Each is sent as the caller it is meant for,
with a body it would accept and ids of real things, but without a key: the answer must
be the platform's missing-key problem, and nothing may be written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bookstore.invariants import CHECKS
from msa.idempotency import MissingIdempotencyKey
from tests.api_surface import Operation, documents, example, operations
from tests.shop import PASSWORD, Bookstore, Shopper, customer_with_things, new_isbn

EXEMPT = {
    "POST /api/identity/login": "issues tokens: a stored answer would hold secrets",
    "POST /api/identity/refresh": "spends a refresh token for new ones: answer holds secrets",
    "POST /api/identity/logout": "ends a session: idempotent by nature",
}
"""Operations that change state without a key, by identity's design (see its api.py)."""

CHANGES = ("POST", "PUT", "PATCH", "DELETE")
PROBLEM = "application/problem+json"

Things = dict[str, str]
# bodies the operation would accept, so that a route without the key check would write
BODIES: dict[str, Callable[[Things], Any]] = {
    "POST /api/identity/register": lambda t: {"email": t["email"], "password": PASSWORD},
    "POST /api/wallet/topups": lambda t: {"amount_cents": 700},
    "POST /api/orders/cart/items": lambda t: {"book_id": t["book_id"], "quantity": 3},
    "PUT /api/orders/cart/items/{book_id}": lambda t: {"quantity": 7},
    "PUT /api/reviews/books/{book_id}/mine": lambda t: {"rating": 1, "text": "changed"},
    "POST /api/catalog/admin/books": lambda t: {
        "isbn": new_isbn(), "title": "Never Written", "author": "No One",
        "price_cents": 999, "year": 2020},
    "PATCH /api/catalog/admin/books/{book_id}": lambda t: {"price_cents": 1},
    "POST /api/inventory/admin/restock": lambda t: {"book_id": t["book_id"], "quantity": 9},
}


async def _owner_with_things(bookstore: Bookstore) -> tuple[Shopper, Things]:
    """A customer with an order, an unread message about it, a full cart and a review,
    and an email address nobody has."""
    owner, things = await customer_with_things(bookstore)
    return owner, {**things, "email": f"never-{uuid.uuid4().hex[:10]}@example.com"}


async def _seen(bookstore: Bookstore, owner: Shopper, things: Things) -> Any:
    """Everything the owner, the catalog and the audits show that a request could change."""
    book = things["book_id"]
    return (
        await bookstore.written(owner),
        await owner.balance(),
        (await owner.call("GET", "/api/notifications")).json(),
        (await bookstore.http.get(f"/api/reviews/books/{book}")).json(),
        (await owner.call("GET", "/api/orders")).json(),
        (await bookstore.http.get(f"/api/catalog/books/{book}")).json(),
        (await bookstore.http.get(f"/api/inventory/stock/{book}")).json(),
    )


async def _send_without_key(bookstore: Bookstore, op: Operation, owner: Shopper,
                            things: Things) -> Any:
    docs = await documents(bookstore)
    make = BODIES.get(f"{op.method} {op.path}")
    schema = op.body_schema
    body = make(things) if make else example(docs[op.service], schema, things) if schema else None
    if op.needs_admin:
        return await (await bookstore.admin()).call(op.method, op.url(things), body, key=None)
    if op.needs_user:
        return await owner.call(op.method, op.url(things), body, key=None)
    return await bookstore.http.request(op.method, op.url(things), json=body)


async def test_every_state_changing_operation_refuses_a_request_without_a_key(
        bookstore: Bookstore):
    owner, things = await _owner_with_things(bookstore)
    changes = [op for op in await operations(bookstore) if op.method in CHANGES]
    walked = [op for op in changes if f"{op.method} {op.path}" not in EXEMPT]
    assert {f"{op.method} {op.path}" for op in changes} >= set(EXEMPT), "stale exemptions"
    assert {f"{op.method} {op.path}" for op in walked} >= {
        "PUT /api/orders/cart/items/{book_id}", "DELETE /api/orders/cart/items/{book_id}",
        "PUT /api/reviews/books/{book_id}/mine", "DELETE /api/reviews/books/{book_id}/mine",
        "POST /api/orders/checkout", "POST /api/wallet/topups"}
    busy = await CHECKS.wait_quiet(bookstore.access, 30)
    assert busy is None, busy
    before = await _seen(bookstore, owner, things)

    wrong = []
    for op in walked:
        answer = await _send_without_key(bookstore, op, owner, things)
        problem = answer.json() if answer.content else {}
        if (answer.status_code != MissingIdempotencyKey.status
                or not answer.headers.get("content-type", "").startswith(PROBLEM)
                or problem.get("title") != MissingIdempotencyKey.title
                or "Idempotency-Key" not in problem.get("detail", "")):
            wrong.append(f"{op}: {answer.status_code} {answer.text[:150]}")
        after = await _seen(bookstore, owner, things)
        if after != before:
            wrong.append(f"{op}: something was written")
            before = after  # blame the next operation only for its own writes
    assert not wrong, "\n".join(wrong)

    never = await bookstore.http.post("/api/identity/login",
                                      json={"email": things["email"], "password": PASSWORD})
    assert never.status_code == 401, "a user was registered without a key"
