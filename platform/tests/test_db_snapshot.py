"""An audit read made of several queries sees one moment, and writes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from msa.db import create_engine, snapshot


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
