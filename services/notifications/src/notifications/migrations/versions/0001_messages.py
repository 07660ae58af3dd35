"""Messages.

`source_event_id` is indexed, not unique: the platform inbox is what makes each
event's effect happen once, and with its test-only switch off the audit must see
the duplicates rather than a constraint hiding them.

Revision ID: n0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "n0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source_event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('confirmed', 'cancelled')", name="messages_kind_known"),
    )
    op.create_index("messages_per_user", "messages",
                    ["user_id", sa.text("created_at DESC")])
    op.create_index("messages_source_event", "messages", ["source_event_id"])


def downgrade() -> None:
    op.drop_table("messages")
