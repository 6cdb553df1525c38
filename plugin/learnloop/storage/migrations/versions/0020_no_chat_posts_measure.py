"""Chat posts are no longer a measure: replies and mentions are some of them, so their figure less either
would be the few people of the rest. Its weekly totals, member sets and blocks go.

Revision ID: 0020
Revises: 0019
"""
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('weekly_counts', 'weekly_members', 'release_blocks'):
        op.execute(f"DELETE FROM {table} WHERE metric = 'posts'")


def downgrade() -> None:
    """Nothing to put back: the measure counts again from the events that come after a downgrade."""
