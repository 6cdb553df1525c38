"""ix_ratings_item_created: the week-end scan of rated pages counts the ratings first given since a score's
counted_through through an index range, as it counts those changed since its released_through through
ix_ratings_item_changed, instead of reading every rating of every rated page.

Revision ID: 0036
Revises: 0035
"""
from alembic import op

revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_ratings_item_created', 'ratings', ['item_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ratings_item_created', table_name='ratings')
