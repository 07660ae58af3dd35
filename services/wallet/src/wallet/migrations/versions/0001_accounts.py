"""Accounts, their transactions, and debits by checkout reference.

Revision ID: w0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "w0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("balance_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        # The database refuses an overdraft even if the code had a bug.
        sa.CheckConstraint("balance_cents >= 0", name="accounts_never_below_zero"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("accounts.user_id"),
                  nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reference", postgresql.UUID(as_uuid=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.clock_timestamp()),
        sa.CheckConstraint("kind IN ('topup', 'debit', 'refund')", name="transactions_kind_known"),
        sa.CheckConstraint("amount_cents > 0", name="transactions_amount_positive"),
    )
    op.create_index("transactions_by_user", "transactions",
                    ["user_id", sa.text("created_at DESC")])
    op.create_table(
        "debits",
        sa.Column("reference", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True)),
        sa.Column("amount_cents", sa.BigInteger),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('debited', 'refunded', 'voided')",
                           name="debits_status_known"),
        # Only a tombstone (a refund that came first) lacks the user and the amount.
        sa.CheckConstraint(
            "status = 'voided' OR (user_id IS NOT NULL AND amount_cents > 0)",
            name="debits_complete_unless_voided"),
    )


def downgrade() -> None:
    op.drop_table("debits")
    op.drop_table("transactions")
    op.drop_table("accounts")
