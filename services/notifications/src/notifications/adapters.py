"""Notifications' table and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from msa import driver

metadata = MetaData()

# `source_event_id` is indexed but deliberately NOT unique: the inbox is the
# exactly-once mechanism, and the audit must be able to show it failing (see README).
messages = Table(
    "messages", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("source_event_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),
)

PUBLIC_COLUMNS = [messages.c.id, messages.c.order_id, messages.c.kind, messages.c.text,
                  messages.c.created_at, messages.c.read_at.is_not(None).label("read")]


async def insert_message(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """One message (on the event path: a prepared statement, no SQL to build)."""
    await (await driver(conn)).execute(
        _INSERT, uuid.uuid4(), values["user_id"], values["order_id"], values["kind"],
        values["text"], values["source_event_id"])


_INSERT = ("INSERT INTO messages (id, user_id, order_id, kind, text, source_event_id) "
           "VALUES ($1, $2, $3, $4, $5, $6)")


async def list_messages(conn: AsyncConnection, user_id: uuid.UUID, *, unread_only: bool,
                        limit: int, offset: int) -> list[dict[str, Any]]:
    """The user's messages, newest first."""
    conditions = [messages.c.user_id == user_id]
    if unread_only:
        conditions.append(messages.c.read_at.is_(None))
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS).where(*conditions)
        .order_by(messages.c.created_at.desc(), messages.c.id).limit(limit).offset(offset)
    )
    return [dict(row) for row in rows.mappings()]


async def count_unread(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(messages).where(
        messages.c.user_id == user_id, messages.c.read_at.is_(None))
    return int((await conn.execute(query)).scalar_one())


async def mark_read(conn: AsyncConnection, message_id: uuid.UUID,
                    user_id: uuid.UUID) -> dict[str, Any] | None:
    """Mark the user's message read (the first time counts); None if it is not theirs."""
    row = (await conn.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.user_id == user_id)
        .values(read_at=func.coalesce(messages.c.read_at, func.now()))
        .returning(*PUBLIC_COLUMNS)
    )).mappings().first()
    return dict(row) if row else None


async def messages_per_event(conn: AsyncConnection) -> list[dict[str, Any]]:
    """How many messages each source event produced (exactly one is right)."""
    rows = await conn.execute(
        select(messages.c.source_event_id.label("event_id"), func.count().label("count"))
        .group_by(messages.c.source_event_id).order_by(messages.c.source_event_id)
    )
    return [dict(row) for row in rows.mappings()]
