"""The database parts of a new service, as text: its tables and queries (adapters.py)
and its first Alembic migration."""

from __future__ import annotations

from msa.tools.scaffold.blueprint import Blueprint


def adapters(bp: Blueprint) -> str:
    received = '''
received_events = Table(
    "received_events", metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
''' if bp.consumes else ""
    record = '''

async def record_event(conn: AsyncConnection, event_id: uuid.UUID, event_type: str) -> None:
    await conn.execute(received_events.insert().values(event_id=event_id, event_type=event_type))
''' if bp.consumes else ""
    return f'''"""{bp.title}'s tables and queries: the only place SQL lives."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from {bp.name}.domain import Item

metadata = MetaData()

items = Table(
    "items", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
{received}

async def insert_item(conn: AsyncConnection, item: Item) -> None:
    await conn.execute(items.insert().values(id=item.id, name=item.name))


async def get_item(conn: AsyncConnection, item_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(items.c.id, items.c.name).where(items.c.id == item_id))
           ).mappings().first()
    return dict(row) if row else None


async def count_items(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(items))).scalar_one())
{record}'''


def migration(bp: Blueprint) -> str:
    received = '''
    op.create_table(
        "received_events",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )''' if bp.consumes else ""
    drop_received = '\n    op.drop_table("received_events")' if bp.consumes else ""
    return f'''"""{bp.title}'s first tables.

Revision ID: {bp.name[:1]}0001
Revises:
Create Date: {bp.created}
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "{bp.name[:1]}0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    ){received}


def downgrade() -> None:{drop_received}
    op.drop_table("items")
'''


MIGRATIONS_ENV = "from msa import run_alembic_env\n\nrun_alembic_env()\n"

MIGRATION_SCRIPT = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''
