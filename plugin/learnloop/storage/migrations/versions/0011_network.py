"""The network's side: a weekly community digest (its day and time, per community), people's own choices
about suggestions and recognition messages, and item-to-item co-ratings for suggestions.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('communities') as batch_op:
        batch_op.add_column(sa.Column('digest_weekday', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('digest_time', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('digest_week', sa.Date(), nullable=True))
    with op.batch_alter_table('members') as batch_op:
        batch_op.add_column(sa.Column('suggestions', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('recognition', sa.Boolean(), server_default=sa.text('true'), nullable=False))
        batch_op.add_column(sa.Column('suggested_week', sa.Date(), nullable=True))
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.add_column(sa.Column('recognition_due', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('recognised', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.create_index('ix_ratings_user', 'ratings', ['user_id'], unique=False)
    op.create_table('co_ratings',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('item_a', ID, nullable=False),
    sa.Column('item_b', ID, nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_co_ratings_community_id_communities')),
    sa.ForeignKeyConstraint(['item_a'], ['content_items.id'], name=op.f('fk_co_ratings_item_a_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_b'], ['content_items.id'], name=op.f('fk_co_ratings_item_b_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'item_a', 'item_b', name=op.f('pk_co_ratings'))
    )
    op.create_index('ix_co_ratings_a_people', 'co_ratings', ['community_id', 'item_a', 'people'], unique=False)
    op.create_index('ix_co_ratings_b_people', 'co_ratings', ['community_id', 'item_b', 'people'], unique=False)
    op.create_table('co_rating_likes',
    sa.Column('member', sa.String(length=40), nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('item_id', ID, nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_co_rating_likes_community_id_communities')),
    sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_co_rating_likes_item_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member', 'community_id', 'item_id', name=op.f('pk_co_rating_likes'))
    )


def downgrade() -> None:
    op.drop_table('co_rating_likes')
    op.drop_index('ix_co_ratings_b_people', table_name='co_ratings')
    op.drop_index('ix_co_ratings_a_people', table_name='co_ratings')
    op.drop_table('co_ratings')
    op.drop_index('ix_ratings_user', table_name='ratings')
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.drop_column('recognised')
        batch_op.drop_column('recognition_due')
    with op.batch_alter_table('members') as batch_op:
        batch_op.drop_column('suggested_week')
        batch_op.drop_column('recognition')
        batch_op.drop_column('suggestions')
    with op.batch_alter_table('communities') as batch_op:
        batch_op.drop_column('digest_week')
        batch_op.drop_column('digest_time')
        batch_op.drop_column('digest_weekday')
