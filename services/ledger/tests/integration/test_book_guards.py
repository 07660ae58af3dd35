"""The database itself keeps the book balanced and append-only, whatever the code does."""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


async def _insert_entry(conn, amounts):
    entry_id = uuid.uuid4()
    await conn.execute(text("INSERT INTO entries (id, reference, kind) "
                            "VALUES (:id, :ref, 'sale')"), {"id": entry_id, "ref": uuid.uuid4()})
    for account, cents in amounts:
        await conn.execute(text("INSERT INTO lines (entry_id, account, amount_cents) "
                                "VALUES (:id, :account, :cents)"),
                           {"id": entry_id, "account": account, "cents": cents})
    return entry_id


async def _entries(db) -> int:
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM entries"))).scalar_one()


async def test_an_entry_whose_lines_do_not_sum_to_zero_cannot_commit(ledger):
    db = ledger.app.state.runtime.db
    before = await _entries(db)
    with pytest.raises(DBAPIError, match="unbalanced"):
        async with db.begin() as conn:
            await _insert_entry(conn, [("customer_credit", 100), ("revenue", -99)])
    assert await _entries(db) == before


async def test_an_entry_with_a_single_line_cannot_commit(ledger):
    db = ledger.app.state.runtime.db
    with pytest.raises(DBAPIError, match="unbalanced"):
        async with db.begin() as conn:
            await _insert_entry(conn, [("revenue", -100)])
    with pytest.raises(DBAPIError, match="unbalanced"):
        async with db.begin() as conn:
            await _insert_entry(conn, [])


async def test_a_balanced_entry_commits_and_then_cannot_be_changed(ledger):
    db = ledger.app.state.runtime.db
    async with db.begin() as conn:
        entry_id = await _insert_entry(conn, [("customer_credit", 100), ("revenue", -100)])
    for statement in ("UPDATE lines SET amount_cents = 1 WHERE entry_id = :id",
                      "DELETE FROM lines WHERE entry_id = :id",
                      "DELETE FROM entries WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin() as conn:
                await conn.execute(text(statement), {"id": entry_id})
    audit = (await ledger.get("/internal/ledger/audit")).json()
    assert audit["unbalanced_entries"] == 0
