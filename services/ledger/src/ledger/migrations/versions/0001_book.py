"""The double-entry book: accounts, entries, lines, and sales by checkout reference.

Revision ID: l0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "l0001"
down_revision = None
branch_labels = None
depends_on = None

# Checked at COMMIT, when all of an entry's lines are in: an unbalanced entry (or one
# with fewer than two lines) makes the whole transaction fail, whatever the code did.
_BALANCE_CHECK = """
CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    checked uuid;
    total bigint;
    line_count integer;
BEGIN
    IF TG_TABLE_NAME = 'entries' THEN
        checked := NEW.id;
    ELSE
        checked := NEW.entry_id;
    END IF;
    SELECT coalesce(sum(amount_cents), 0), count(*) INTO total, line_count
      FROM lines WHERE entry_id = checked;
    IF total <> 0 OR line_count < 2 THEN
        RAISE EXCEPTION 'ledger entry % is unbalanced: % lines summing to %',
            checked, line_count, total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
"""

_APPEND_ONLY = """
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: correct an entry with a reversing entry'
        USING ERRCODE = 'restrict_violation';
END $$
"""


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.bulk_insert(sa.table("accounts", sa.column("name"), sa.column("description")), [
        {"name": "revenue", "description": "the store's income from sales (a credit balance)"},
        {"name": "customer_credit", "description": "store credit customers spent"},
    ])
    op.create_table(
        "entries",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("reference", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('sale', 'reversal')", name="entries_kind_known"),
        # At most one sale and one reversal per checkout, even if the code had a bug.
        sa.UniqueConstraint("reference", "kind", name="entries_one_per_reference_and_kind"),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("entry_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("entries.id"),
                  nullable=False, index=True),
        sa.Column("account", sa.Text, sa.ForeignKey("accounts.name"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount_cents <> 0", name="lines_amount_not_zero"),
    )
    op.create_index("lines_by_account", "lines", ["account"])
    op.create_table(
        "sales",
        sa.Column("reference", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", postgresql.UUID(as_uuid=True)),
        sa.Column("user_id", postgresql.UUID(as_uuid=True)),
        sa.Column("amount_cents", sa.BigInteger),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('credited', 'reversed', 'voided')",
                           name="sales_status_known"),
        # Only a tombstone (a reversal that came first) lacks the order and the amount.
        sa.CheckConstraint(
            "status = 'voided' OR "
            "(order_id IS NOT NULL AND user_id IS NOT NULL AND amount_cents > 0)",
            name="sales_complete_unless_voided"),
    )
    op.execute(_BALANCE_CHECK)
    for table in ("entries", "lines"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()"
        )
    op.execute(_APPEND_ONLY)
    for table in ("entries", "lines"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )


def downgrade() -> None:
    op.drop_table("sales")
    op.drop_table("lines")
    op.drop_table("entries")
    op.drop_table("accounts")
    op.execute("DROP FUNCTION ledger_append_only()")
    op.execute("DROP FUNCTION ledger_entry_balanced()")
