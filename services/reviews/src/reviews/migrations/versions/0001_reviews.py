"""Reviews and the per-book rating summary.

Revision ID: r0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("book_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="reviews_rating_range"),
        sa.CheckConstraint("char_length(text) <= 4000", name="reviews_text_length"),
    )
    op.create_index("reviews_newest", "reviews", ["book_id", sa.text("updated_at DESC")])
    op.create_table(
        "book_ratings",
        sa.Column("book_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("count >= 0 AND total >= count AND total <= 5 * count",
                           name="book_ratings_consistent"),
    )


def downgrade() -> None:
    op.drop_table("book_ratings")
    op.drop_table("reviews")
