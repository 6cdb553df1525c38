"""content_items.followed_at: when the wiki's own events first named a page. A page whose id learnloop looked up
because someone rated its URL is not listed as too early to rank, nor due for review, until then. Pages that
had an id before were all named by the wiki's events: they count from when learnloop first saw them.

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('content_items', sa.Column('followed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE content_items SET followed_at = created_at WHERE page_ref IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE content_items DROP COLUMN followed_at")  # in place: no copy of the table on SQLite
