"""Each cart's number of lines, one row per customer: the cart's lock and its cap.

Every statement that adds or removes a cart line moves the count in the same statement,
and the row's update waits for any other change to the same cart, so the count is exact
under concurrency and the CHECK holds the cap (orders.domain.MAX_CART_LINES) whatever the
code did. A change in a transaction of its own locks the row first (the cart's lock).

Revision ID: o0003
Revises: o0002
Create Date: 2026-12-05
"""

from alembic import op

revision = "o0003"
down_revision = "o0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE carts (user_id uuid PRIMARY KEY, lines integer NOT NULL DEFAULT 0, "
        "CONSTRAINT carts_lines_capped CHECK (lines BETWEEN 0 AND 100))")
    op.execute("INSERT INTO carts (user_id, lines) "
               "SELECT user_id, count(*) FROM cart_items GROUP BY user_id")


def downgrade() -> None:
    op.execute("DROP TABLE carts")
