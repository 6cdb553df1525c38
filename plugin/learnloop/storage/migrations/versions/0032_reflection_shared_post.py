"""reflections.shared_post_id: the channel post of a shared reflection, which its author's edit updates and their
delete removes. The outbox message that made it goes after the retention window; while it is kept, the post of a
reflection shared before this is found in its result.

Revision ID: 0032
Revises: 0031
"""
import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reflections', sa.Column('shared_post_id', sa.String(length=26), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE reflections DROP COLUMN shared_post_id")  # in place: no copy of the table on SQLite
