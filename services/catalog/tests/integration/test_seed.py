"""The seed catalogue is loaded once: loading it again, or restarting, adds no book or event."""

from catalog import handlers
from catalog.domain import book_id_for
from catalog.seed import SEED_COUNT, seed_books
from msa.tools.apptest import serve_in_process


async def test_a_fresh_catalog_holds_the_seed_and_announced_each_book_once(catalog, events):
    assert (await catalog.get("/internal/catalog/audit")).json()["books"] == SEED_COUNT
    announced = await events.after(0)
    assert [event["type"] for event in announced] == ["catalog.book.created.v1"] * SEED_COUNT
    assert sorted(event["book_id"] for event in announced) == sorted(
        str(book_id_for(book.isbn)) for book in seed_books())


async def test_loading_the_seed_again_adds_no_book_and_no_event(catalog, events):
    last = await events.last_id()
    await handlers.load_seed(catalog.app.state.runtime)
    await handlers.load_seed(catalog.app.state.runtime)
    assert (await catalog.get("/internal/catalog/audit")).json()["books"] == SEED_COUNT
    assert await events.after(last) == []


async def test_a_restart_on_the_same_database_keeps_one_copy_of_each_book(
    catalog, events, msa_nats
):
    before = (await catalog.get("/api/catalog/books", params={"limit": 100})).json()
    last = await events.last_id()
    async with serve_in_process("catalog", database_url=catalog.database_url,
                                nats_url=msa_nats) as restarted:
        assert (await restarted.get("/internal/catalog/audit")).json()["books"] == SEED_COUNT
        after = (await restarted.get("/api/catalog/books", params={"limit": 100})).json()
    assert after == before
    assert await events.after(last) == []
