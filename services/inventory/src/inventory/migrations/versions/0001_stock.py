"""Stock per book, reservations and their items.

Revision ID: i0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "i0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The invariants live in the database too, so even a bug cannot oversell.
    op.create_table(
        "stock",
        sa.Column("book_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("received", sa.Integer, nullable=False, server_default="0"),
        sa.Column("available", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sold", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("received >= 0 AND available >= 0 AND reserved >= 0 AND sold >= 0",
                           name="stock_never_below_zero"),
        sa.CheckConstraint("available + reserved + sold = received", name="stock_adds_up"),
    )
    op.create_table(
        "reservations",
        sa.Column("reference", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN ('reserved', 'released', 'voided', 'expired', 'committed')",
            name="reservations_status_known"),
    )
    op.create_index("reservations_held_until", "reservations", ["expires_at"],
                    postgresql_where=sa.text("status = 'reserved'"))
    op.create_table(
        "reservation_items",
        sa.Column("reference", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey("reservations.reference"), primary_key=True),
        sa.Column("book_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("stock.book_id"),
                  primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="reservation_items_quantity_positive"),
    )


def downgrade() -> None:
    op.drop_table("reservation_items")
    op.drop_table("reservations")
    op.drop_table("stock")
