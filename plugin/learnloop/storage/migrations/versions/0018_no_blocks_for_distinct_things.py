"""Distinct items rated and threads have no release blocks of their own: the dashboard counts them from the
weekly member sets over the span of the blocks of ratings and replies, and never read theirs.

Revision ID: 0018
Revises: 0017
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM release_blocks WHERE metric IN ('items_rated', 'threads')")


def downgrade() -> None:
    """Nothing to put back: the blocks were never read."""
