"""An erase finds a person's keyed hash in the weekly member sets by an index, instead of reading every set
while it holds SQLite's write lock (every rating waits for it).

Revision ID: 0017
Revises: 0016
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_weekly_members_member', 'weekly_members', ['member'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_weekly_members_member', table_name='weekly_members')
