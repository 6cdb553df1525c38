"""An item's stored score is the score shown: `item_scores` keeps when its totals were released
(`released_through`, the newest rating change they hold) and the totals before that release (for the page's
trend), and holds pages in no community too (rated only from their wiki).

Every rated item's row starts from the live totals people last saw, released through its newest rating, so
the first move after the upgrade needs k people like any other. Its score is computed with the neutral prior
until the worker's next pass stores each community's basis again (its old one came from the live totals). The
live totals on items and communities go: a rating no longer changes any total, and the worker's fold reads the
ratings themselves: those changed since a score was stored through `ix_ratings_item_changed`, all of an item's
only when its score moves.

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
NEUTRAL = "(15.0 + stars_sum) / (5.0 + ratings_count)"
"""domain.scores.bayesian_average with the prior of a community with no ratings (3 stars, weight 5)."""


def upgrade() -> None:
    with op.batch_alter_table('item_scores') as batch_op:
        batch_op.add_column(sa.Column('released_through', WHEN, nullable=True))
        batch_op.add_column(sa.Column('before_stars_sum', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('before_ratings_count', sa.Integer(), nullable=True))
        batch_op.alter_column('community_id', existing_type=ID, nullable=True)
    op.execute("DELETE FROM item_scores")
    op.execute(f"INSERT INTO item_scores (item_id, community_id, stars_sum, ratings_count, score, released_through) "
               f"SELECT id, community_id, stars_sum, ratings_count, {NEUTRAL}, (SELECT MAX(ratings.updated_at) "
               f"FROM ratings WHERE ratings.item_id = content_items.id) FROM content_items WHERE ratings_count > 0 "
               f"AND EXISTS (SELECT 1 FROM ratings WHERE ratings.item_id = content_items.id)")
    op.execute("DELETE FROM score_bases")
    with op.batch_alter_table('item_scores') as batch_op:
        batch_op.alter_column('released_through', existing_type=WHEN, nullable=False)
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
