"""Identity's tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)

PUBLIC_COLUMNS = [users.c.id, users.c.email, users.c.role]


async def insert_user(conn: AsyncConnection, email: str, password_hash: str,
                      role: str) -> dict[str, Any] | None:
    """Insert a user unless the email is taken; the new user, or None."""
    result = await conn.execute(
        pg_insert(users)
        .values(id=uuid.uuid4(), email=email, password_hash=password_hash, role=role)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(*PUBLIC_COLUMNS)
    )
    row = result.mappings().first()
    return dict(row) if row else None


async def get_by_email(conn: AsyncConnection, email: str) -> dict[str, Any] | None:
    """The user with `email`, with the password hash (for login only)."""
    query = select(*PUBLIC_COLUMNS, users.c.password_hash).where(users.c.email == email)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def get_user(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(*PUBLIC_COLUMNS).where(users.c.id == user_id))).mappings()
    first = row.first()
    return dict(first) if first else None


async def set_password_hash(conn: AsyncConnection, user_id: uuid.UUID,
                            password_hash: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id)
                       .values(password_hash=password_hash, updated_at=func.now()))


async def count_users(conn: AsyncConnection) -> dict[str, int]:
    """Users per role."""
    rows = await conn.execute(select(users.c.role, func.count()).group_by(users.c.role))
    return {role: int(count) for role, count in rows}
