"""Only the right user reaches the right data: objects, functions and fields.

Every operation comes from the services' OpenAPI documents (`tests.api_surface`):
- object level: a customer using another customer's ids of their own things (orders,
  messages) gets exactly 404; on shared ids (books) they act on their own things only,
  see none of the other's data, and the other customer's data is exactly as before;
- function level: a customer on an administrator's operation gets 403;
- no mass assignment: every request body refuses fields it does not declare (422).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.api_surface import Operation, documents, example, operations, resolve
from tests.shop import Bookstore, Shopper, customer_with_things

OWNED_IDS = {"order_id", "message_id"}
"""Path parameters naming a customer's own object: B with A's gets exactly 404."""
SHARED_IDS = {"book_id"}
"""Path parameters naming what every customer shares: B may act, on B's own things only."""
OBJECT_IDS = OWNED_IDS | SHARED_IDS
"""Path parameters whose values the test has for customer A; a new kind must be added here
(a review id, say, to OWNED_IDS, with A's value from `customer_with_things`)."""
READ_ONLY = ["id", "user_id", "role", "status", "balance_cents", "created_at", "total_cents"]


def _traces_of(owner: Shopper, ids: dict[str, str]) -> list[str]:
    """What of A's must never show in an answer to B."""
    return [owner.user_id, owner.email, ids["order_id"], ids["message_id"], ids["review_text"]]


async def snapshot(owner: Shopper, ids: dict[str, str]) -> Any:
    order = (await owner.call("GET", f"/api/orders/{ids['order_id']}")).json()
    inbox = (await owner.call("GET", "/api/notifications")).json()
    reviews = (await owner.call("GET", f"/api/reviews/books/{ids['book_id']}")).json()
    cart = (await owner.call("GET", "/api/orders/cart")).json()
    return (order["status"], order["total_cents"], inbox, reviews["items"], cart,
            await owner.balance())


BUYERS_ONLY = {"PUT /api/reviews/books/{book_id}/mine"}
"""Refused (403) to a customer who has not bought the book: a rule, not a leak."""


async def test_another_customers_ids_reach_nothing_of_theirs(bookstore: Bookstore):
    owner, ids = await customer_with_things(bookstore)
    before = await snapshot(owner, ids)
    other = await bookstore.customer(credit=100)
    docs = await documents(bookstore)
    tried: list[Operation] = []
    wrong: list[str] = []
    for op in await operations(bookstore):
        if not op.needs_user or op.needs_admin or not op.path_params:
            continue  # administrators' operations: the function-level test below
        assert set(op.path_params) <= OBJECT_IDS, f"{op}: whose are {op.path_params}? add them"
        schema = op.body_schema
        body = example(docs[op.service], schema, ids) if schema else None
        answer = await other.call(op.method, op.url(ids), body, key=uuid.uuid4().hex)
        tried.append(op)
        owned = set(op.path_params) & OWNED_IDS
        if owned and answer.status_code != 404:
            wrong.append(f"{op} with A's {sorted(owned)}: {answer.status_code}, not 404 "
                         f"{answer.text[:120]}")
        elif not owned and not (200 <= answer.status_code < 300 or answer.status_code == 404
                                or (f"{op.method} {op.path}" in BUYERS_ONLY
                                    and answer.status_code == 403)):
            wrong.append(f"{op} on a shared id: {answer.status_code} {answer.text[:120]}")
        leaked = [trace for trace in _traces_of(owner, ids) if trace in answer.text]
        if 200 <= answer.status_code < 300 and leaked:  # a 404 names only what B sent
            wrong.append(f"{op}: B's answer shows A's {leaked}")
    assert not wrong, "\n".join(wrong)
    assert len(tried) >= 5, [str(op) for op in tried]
    assert {name for op in tried for name in op.path_params} == OBJECT_IDS, "an id kind unused"
    assert await snapshot(owner, ids) == before


async def test_a_customer_gets_403_on_every_administrators_operation(bookstore: Bookstore):
    customer, admin = await bookstore.customer(), await bookstore.admin()
    docs = await documents(bookstore)
    book = await bookstore.new_book(copies=0)
    admin_ops = [op for op in await operations(bookstore) if op.needs_admin]
    assert len(admin_ops) >= 4, admin_ops
    wrong = []
    for op in admin_ops:
        schema = op.body_schema
        body = example(docs[op.service], schema, {"book_id": book}) if schema else None
        as_customer = await customer.call(op.method, op.url({"book_id": book}), body,
                                          key=uuid.uuid4().hex)
        if as_customer.status_code != 403:
            wrong.append(f"{op} as a customer: {as_customer.status_code}")
        as_admin = await admin.call(op.method, op.url({"book_id": book}), body,
                                    key=uuid.uuid4().hex)
        if as_admin.status_code in (401, 403) or as_admin.status_code >= 500:
            wrong.append(f"{op} as an administrator: {as_admin.status_code} {as_admin.text}")
    assert not wrong, "\n".join(wrong)


def _open_objects(document: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    schema = resolve(document, schema)
    found = []
    if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
        found.append(where)
    for name, prop in schema.get("properties", {}).items():
        for part in prop.get("anyOf", [prop]):
            inner = part.get("items", part)
            if "$ref" in inner or inner.get("type") == "object":
                found += _open_objects(document, inner, f"{where}.{name}")
    return found


async def test_every_request_body_of_every_service_forbids_undeclared_fields(
        bookstore: Bookstore):
    docs = await documents(bookstore)
    bodies, open_ = 0, []
    for op in await operations(bookstore, public=False):
        if op.body_schema is not None:
            bodies += 1
            open_ += _open_objects(docs[op.service], op.body_schema, str(op))
    assert bodies >= 10
    assert not open_, "request models need ConfigDict(extra='forbid'):\n" + "\n".join(open_)


async def test_read_only_or_unknown_fields_are_refused_with_422(bookstore: Bookstore):
    admin = await bookstore.admin()
    book = await bookstore.new_book(copies=1)
    docs = await documents(bookstore)
    wrong = []
    for op in await operations(bookstore):
        schema = op.body_schema
        if schema is None:
            continue
        declared = resolve(docs[op.service], schema).get("properties", {})
        body = example(docs[op.service], schema, {"book_id": book})
        body.update({name: str(uuid.uuid4()) for name in READ_ONLY if name not in declared})
        answer = await admin.call(op.method, op.url({"book_id": book}), body,
                                  key=uuid.uuid4().hex)
        kinds = {error.get("type") for error in answer.json().get("errors", [])}
        if answer.status_code != 422 or "extra_forbidden" not in kinds:
            wrong.append(f"{op}: {answer.status_code} {answer.text[:150]}")
    assert not wrong, "\n".join(wrong)
