"""The cart over HTTP: add, change quantity, remove, each once per Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid

from msa import driver
from orders import adapters

from .conftest import Shop, customer, key

ITEMS = "/api/orders/cart/items"


async def _cart(shop: Shop, who: dict[str, str]) -> list[tuple[str, int]]:
    answer = await shop.orders.get("/api/orders/cart", headers=who)
    assert answer.status_code == 200, answer.text
    return [(item["book_id"], item["quantity"]) for item in answer.json()["items"]]


async def test_adding_a_book_twice_adds_up_but_a_repeat_of_one_add_counts_once(shop, new_book):
    book, ann = await new_book(), customer()
    once = {**ann, **key()}
    first = await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 2}, headers=once)
    assert first.status_code == 200, first.text
    repeat = await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 2}, headers=once)
    assert repeat.headers.get("idempotent-replayed") == "true"
    assert repeat.json() == first.json()
    await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 1}, headers={**ann, **key()})
    assert await _cart(shop, ann) == [(book, 3)]


async def test_changing_the_quantity_sets_it_and_a_repeat_replays(shop, new_book):
    book, other, ann = await new_book(), await new_book(), customer()
    await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 1}, headers={**ann, **key()})
    await shop.orders.post(ITEMS, json={"book_id": other, "quantity": 1}, headers={**ann, **key()})
    once = {**ann, **key()}
    changed = await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": 5}, headers=once)
    assert changed.status_code == 200, changed.text
    assert changed.json()["items"] == [{"book_id": book, "quantity": 5},
                                       {"book_id": other, "quantity": 1}]
    await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": 2}, headers={**ann, **key()})
    late = await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": 5}, headers=once)
    assert late.headers.get("idempotent-replayed") == "true"
    assert await _cart(shop, ann) == [(book, 2), (other, 1)]  # the late repeat changed nothing


async def test_the_same_key_with_another_quantity_is_refused_with_422(shop, new_book):
    book, ann = await new_book(), customer()
    once = {**ann, **key()}
    assert (await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": 3}, headers=once)
            ).status_code == 200
    other = await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": 4}, headers=once)
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert await _cart(shop, ann) == [(book, 3)]


async def test_changing_or_removing_without_a_key_is_refused_and_changes_nothing(shop, new_book):
    book, ann = await new_book(), customer()
    await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 2}, headers={**ann, **key()})
    changed = await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": 9}, headers=ann)
    removed = await shop.orders.delete(f"{ITEMS}/{book}", headers=ann)
    for answer in (changed, removed):
        assert answer.status_code == 400, answer.text
        assert "Idempotency-Key" in answer.json()["detail"]
    assert await _cart(shop, ann) == [(book, 2)]


async def test_bad_quantities_and_unknown_books_are_refused(shop, new_book):
    book, ann = await new_book(), customer()
    await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 1}, headers={**ann, **key()})
    for quantity in (0, -1, 101, "two"):
        answer = await shop.orders.put(f"{ITEMS}/{book}", json={"quantity": quantity},
                                       headers={**ann, **key()})
        assert answer.status_code == 422, answer.text
    unknown = await shop.orders.put(f"{ITEMS}/{uuid.uuid4()}", json={"quantity": 1},
                                    headers={**ann, **key()})
    assert unknown.status_code == 404, unknown.text
    assert await _cart(shop, ann) == [(book, 1)]


async def test_removing_a_book_empties_its_line_and_a_repeat_replays_the_204(shop, new_book):
    book, ann = await new_book(), customer()
    await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 2}, headers={**ann, **key()})
    once = {**ann, **key()}
    removed = await shop.orders.delete(f"{ITEMS}/{book}", headers=once)
    assert (removed.status_code, removed.content) == (204, b"")
    assert await _cart(shop, ann) == []
    repeat = await shop.orders.delete(f"{ITEMS}/{book}", headers=once)
    assert (repeat.status_code, repeat.headers.get("idempotent-replayed")) == (204, "true")
    assert repeat.content == b"" and "content-length" not in repeat.headers
    again = await shop.orders.delete(f"{ITEMS}/{book}", headers={**ann, **key()})
    assert again.status_code == 404, again.text  # a new request: the book is not in the cart


async def test_a_cart_is_the_users_own(shop, new_book):
    book, ann, bob = await new_book(), customer(), customer()
    await shop.orders.post(ITEMS, json={"book_id": book, "quantity": 1}, headers={**ann, **key()})
    assert (await shop.orders.delete(f"{ITEMS}/{book}", headers={**bob, **key()})
            ).status_code == 404
    assert await _cart(shop, bob) == []
    assert await _cart(shop, ann) == [(book, 1)]


async def _known_books(shop: Shop, count: int) -> list[str]:
    """Books orders' read model knows (as if catalog's events had told it): a cart takes
    them without asking catalog."""
    ids = [uuid.uuid4() for _ in range(count)]
    runtime = shop.orders.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.begin() as conn:
        await (await driver(conn)).execute(
            "INSERT INTO books (book_id, title, price_cents) "
            "SELECT b, 'A Book', 500 FROM unnest($1::uuid[]) AS b", ids)
    return [str(book) for book in ids]


async def _counted_lines(shop: Shop, who: dict[str, str]) -> int | None:
    """The cart's own count of its lines (the `carts` row that caps it)."""
    runtime = shop.orders.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.connect() as conn:
        count = await (await driver(conn)).fetchval(
            "SELECT lines FROM carts WHERE user_id = $1", uuid.UUID(who["X-User-Id"]))
    return None if count is None else int(count)


async def test_concurrent_additions_never_pass_the_cap_and_the_count_stays_exact(shop):
    books, ann = await _known_books(shop, 104), customer()
    for book in books[:98]:
        added = await shop.orders.post(ITEMS, json={"book_id": book}, headers={**ann, **key()})
        assert added.status_code == 200, added.text
    assert await _counted_lines(shop, ann) == 98
    racing = await asyncio.gather(*(
        shop.orders.post(ITEMS, json={"book_id": book}, headers={**ann, **key()})
        for book in [*books[98:], books[0], books[1]]))  # 6 new lines, 2 more copies
    codes = sorted(answer.status_code for answer in racing)
    assert codes == [200] * 4 + [409] * 4, [answer.text for answer in racing]
    for answer in racing:
        if answer.status_code == 409:
            assert answer.json()["title"] == "Cart full"
        else:  # every answer is a whole cart as it stood after the change
            items = answer.json()["items"]
            assert len({item["book_id"] for item in items}) == len(items) <= 100
    cart = await _cart(shop, ann)
    assert len(cart) == 100 and dict(cart)[books[0]] == dict(cart)[books[1]] == 2
    assert await _counted_lines(shop, ann) == 100


async def test_removals_and_a_checkout_count_lines_off_the_cart(shop, new_book, credited):
    book, other = await new_book(), await new_book()
    ann = await credited(10_000)
    for each in (book, other):
        assert (await shop.orders.post(ITEMS, json={"book_id": each}, headers={**ann, **key()})
                ).status_code == 200
    assert await _counted_lines(shop, ann) == 2
    assert (await shop.orders.delete(f"{ITEMS}/{other}", headers={**ann, **key()})
            ).status_code == 204
    assert await _counted_lines(shop, ann) == 1
    placed = await shop.orders.post("/api/orders/checkout", headers={**ann, **key()})
    assert placed.status_code in (201, 202), placed.text
    assert await _cart(shop, ann) == [] and await _counted_lines(shop, ann) == 0
    refilled = await shop.orders.post(ITEMS, json={"book_id": other}, headers={**ann, **key()})
    assert refilled.json()["items"] == [{"book_id": other, "quantity": 1}]
    assert await _counted_lines(shop, ann) == 1


async def test_the_audit_counts_a_cart_whose_count_is_not_its_lines(shop, new_book):
    book, ann = await new_book(), customer()
    assert (await shop.orders.post(ITEMS, json={"book_id": book}, headers={**ann, **key()})
            ).status_code == 200
    runtime = shop.orders.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.begin() as conn:
        assert await adapters.miscounted_carts(conn) == 0
        await (await driver(conn)).execute(
            "UPDATE carts SET lines = 2 WHERE user_id = $1", uuid.UUID(ann["X-User-Id"]))
        assert await adapters.miscounted_carts(conn) == 1
        await conn.rollback()
