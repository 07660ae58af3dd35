"""Platform tables: outbox, inbox, idempotency keys, sagas.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "msa_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("aggregate", sa.Text, nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("headers", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("msa_outbox_unpublished", "msa_outbox", ["id"],
                    postgresql_where=sa.text("published_at IS NULL"))
    op.execute(
        "CREATE FUNCTION msa_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('msa_outbox', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER msa_outbox_notify AFTER INSERT ON msa_outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION msa_outbox_notify()"
    )
    op.create_table(
        "msa_inbox",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "msa_idempotency",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "msa_saga",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("saga_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data", postgresql.JSONB, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("owner", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("fence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("msa_saga_active", "msa_saga", ["next_attempt_at"],
                    postgresql_where=sa.text("status IN ('running', 'compensating')"))
    op.create_table(
        "msa_saga_step",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("saga_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey("msa_saga.id"), nullable=False, index=True),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("driver", sa.Text, nullable=False),
        sa.Column("fence", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("msa_saga_step")
    op.drop_table("msa_saga")
    op.drop_table("msa_idempotency")
    op.drop_table("msa_inbox")
    op.execute("DROP TRIGGER IF EXISTS msa_outbox_notify ON msa_outbox")
    op.execute("DROP FUNCTION IF EXISTS msa_outbox_notify()")
    op.drop_table("msa_outbox")
