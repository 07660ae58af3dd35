"""Identity's tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, MetaData, Table, Text, func, select, update
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

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("session_expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
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


async def insert_refresh_token(conn: AsyncConnection, *, family_id: uuid.UUID,
                               user_id: uuid.UUID, token_hash: str, expires_at: datetime,
                               session_expires_at: datetime) -> None:
    await conn.execute(refresh_tokens.insert().values(
        id=uuid.uuid4(), family_id=family_id, user_id=user_id, token_hash=token_hash,
        expires_at=expires_at, session_expires_at=session_expires_at))


async def use_refresh_token(conn: AsyncConnection, token_hash: str) -> dict[str, Any] | None:
    """Mark a live, unused token used; its family, user and session end, or None."""
    row = (await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None),
               refresh_tokens.c.revoked_at.is_(None), refresh_tokens.c.expires_at > func.now())
        .values(used_at=func.now())
        .returning(refresh_tokens.c.family_id, refresh_tokens.c.user_id,
                   refresh_tokens.c.session_expires_at)
    )).mappings().first()
    return dict(row) if row else None


async def find_refresh_token(conn: AsyncConnection, token_hash: str) -> dict[str, Any] | None:
    """A token by its hash, whatever its state."""
    row = (await conn.execute(
        select(refresh_tokens.c.family_id, refresh_tokens.c.used_at, refresh_tokens.c.revoked_at)
        .where(refresh_tokens.c.token_hash == token_hash)
    )).mappings().first()
    return dict(row) if row else None


async def revoke_family(conn: AsyncConnection, family_id: uuid.UUID) -> int:
    """Revoke every live token of a family; how many were."""
    result = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now()))
    return result.rowcount or 0
