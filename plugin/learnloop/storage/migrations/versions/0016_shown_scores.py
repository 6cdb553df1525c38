"""An item's stored score is the score shown: `item_scores` keeps when its totals were released
(`released_through`, the newest rating change they hold) and the totals before that release (for the page's
trend). Rows already stored count as released through their item's newest rating; items without a row get
one when they are next rated; a page in no community (rated only from its wiki) has one too. The live totals on items and communities go: a rating no longer changes any
total, and the worker's fold reads the ratings themselves: those changed since a score was shown through
`ix_ratings_item_changed`, all of an item's only when its score moves.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
LIVE_TOTALS = ('content_items', 'communities')


def upgrade() -> None:
    with op.batch_alter_table('item_scores') as batch_op:
        batch_op.add_column(sa.Column('released_through', WHEN, nullable=True))
        batch_op.add_column(sa.Column('before_stars_sum', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('before_ratings_count', sa.Integer(), nullable=True))
    op.execute("UPDATE item_scores SET released_through = (SELECT MAX(ratings.updated_at) FROM ratings "
               "WHERE ratings.item_id = item_scores.item_id)")
    op.execute("DELETE FROM item_scores WHERE released_through IS NULL")
    with op.batch_alter_table('item_scores') as batch_op:
        batch_op.alter_column('released_through', existing_type=WHEN, nullable=False)
        batch_op.alter_column('community_id', existing_type=ID, nullable=True)
    for table in LIVE_TOTALS:
        for column in ('ratings_count', 'stars_sum'):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.create_index('ix_ratings_item_changed', 'ratings', ['item_id', 'updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ratings_item_changed', table_name='ratings')
    op.execute("DELETE FROM item_scores WHERE community_id IS NULL")
    for table in LIVE_TOTALS:
        for column in ('ratings_count', 'stars_sum'):
            op.add_column(table, sa.Column(column, sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE content_items SET ratings_count = (SELECT COUNT(*) FROM ratings "
               "WHERE ratings.item_id = content_items.id), stars_sum = (SELECT COALESCE(SUM(stars), 0) "
               "FROM ratings WHERE ratings.item_id = content_items.id)")
    op.execute("UPDATE communities SET ratings_count = (SELECT COALESCE(SUM(ratings_count), 0) FROM content_items "
               "WHERE content_items.community_id = communities.id), stars_sum = (SELECT COALESCE(SUM(stars_sum), 0) "
               "FROM content_items WHERE content_items.community_id = communities.id)")
    with op.batch_alter_table('item_scores') as batch_op:
        batch_op.alter_column('community_id', existing_type=ID, nullable=False)
        batch_op.drop_column('before_ratings_count')
        batch_op.drop_column('before_stars_sum')
        batch_op.drop_column('released_through')
