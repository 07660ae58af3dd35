"""An audit read made of several queries sees one moment, and writes nothing; raw
driver statements belong to the SQLAlchemy transaction they run in."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from msa.db import create_engine, driver, snapshot


async def test_a_snapshot_does_not_see_a_commit_made_between_its_queries(msa_postgres):
    engine = create_engine(msa_postgres.create_database(), pool_size=2)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE stock (available int, reserved int)"))
            await conn.execute(sa.text("INSERT INTO stock VALUES (0, 2)"))
        async with snapshot(engine) as audit:
            reserved = (await audit.execute(sa.text("SELECT reserved FROM stock"))).scalar()
            async with engine.begin() as expiry:  # a reservation expires meanwhile
                await expiry.execute(sa.text("UPDATE stock SET available = 2, reserved = 0"))
            available = (await audit.execute(sa.text("SELECT available FROM stock"))).scalar()
            assert (available, reserved) == (0, 2)  # one moment, not half of the expiry
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await audit.execute(sa.text("DELETE FROM stock"))
        async with snapshot(engine) as later:
            assert (await later.execute(sa.text("SELECT available FROM stock"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_driver_statements_share_the_transaction_and_roll_back_with_it(msa_postgres):
    engine = create_engine(msa_postgres.create_database(), pool_size=2)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE kept (n int)"))
        with contextlib.suppress(RuntimeError):
            async with engine.begin() as conn:
                raw = await driver(conn)  # before any SQLAlchemy statement
                await raw.execute("INSERT INTO kept VALUES (1)")
                await conn.execute(sa.text("INSERT INTO kept VALUES (2)"))
                raise RuntimeError("undo both")
        async with engine.connect() as conn:
            raw = await driver(conn)  # no explicit begin: still one transaction
            await raw.execute("INSERT INTO kept VALUES (3)")
            await conn.rollback()
        async with engine.begin() as conn:
            raw = await driver(conn)
            await raw.execute("INSERT INTO kept VALUES (4)")
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT array_agg(n) FROM kept"))).scalar() == [4]
    finally:
        await engine.dispose()


async def test_a_request_cancelled_inside_a_driver_transaction_leaves_the_pool_usable(
        msa_postgres):
    url = msa_postgres.create_database()
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE hot (id int PRIMARY KEY, n int)"))
            await conn.execute(sa.text("INSERT INTO hot VALUES (1, 0)"))
        holder = await asyncpg.connect(url)
        holding = holder.transaction()
        await holding.start()
        await holder.execute("UPDATE hot SET n = n + 1 WHERE id = 1")  # the row is held

        async def waits_for_the_row() -> None:
            async with engine.begin() as conn:
                await (await driver(conn)).execute("UPDATE hot SET n = n + 10 WHERE id = 1")

        waiting = asyncio.create_task(waits_for_the_row())
        await asyncio.sleep(0.3)
        waiting.cancel()  # as a caller's deadline cancels a request
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await holding.rollback()
        await holder.close()
        async with snapshot(engine) as conn:  # the same pooled connection, or a new one
            assert (await conn.execute(sa.text("SELECT n FROM hot"))).scalar() == 0
        async with engine.begin() as conn:
            await (await driver(conn)).execute("UPDATE hot SET n = n + 1 WHERE id = 1")
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT n FROM hot"))).scalar() == 1
    finally:
        await engine.dispose()
