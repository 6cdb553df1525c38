"""content_items.shared_at: when someone first shared the item in chat. It stays when its sharer erases their
data (first_shared_by is emptied then): the share was seen by everyone, so the item stays known to all, and
nothing tells that the sharer erased anything. Items with a sharer count from when learnloop first saw them.

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('content_items', sa.Column('shared_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE content_items SET shared_at = created_at WHERE first_shared_by IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE content_items DROP COLUMN shared_at")  # in place: no copy of the table on SQLite
