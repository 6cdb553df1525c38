"""Dashboard counts kept by the worker: weekly distinct members, the fixed periods' distinct members,
and item scores indexed for top content; an index for the feedback triage list.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('weekly_counts') as batch_op:
        batch_op.add_column(sa.Column('members', sa.Integer(), server_default='0', nullable=False))
    # the weeks folded before this revision: their distinct members, counted once from the member sets
    op.execute(
        "UPDATE weekly_counts SET members = (SELECT count(*) FROM weekly_members m "
        "WHERE m.community_id = weekly_counts.community_id AND m.week = weekly_counts.week "
        "AND m.metric = weekly_counts.metric)")
    op.create_table('period_members',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('first_week', sa.Date(), nullable=False),
    sa.Column('weeks', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_period_members_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'first_week', 'weeks', 'metric', name=op.f('pk_period_members'))
    )
    op.create_table('score_bases',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('prior_mean', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_score_bases_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', name=op.f('pk_score_bases'))
    )
    op.create_table('item_scores',
    sa.Column('item_id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('stars_sum', sa.Integer(), nullable=False),
    sa.Column('ratings_count', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_item_scores_community_id_communities')),
    sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_item_scores_item_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_item_scores'))
    )
    op.create_index('ix_item_scores_rank', 'item_scores', ['community_id', 'score'], unique=False)
    op.create_index('ix_feedback_triage', 'feedback', ['community_id', 'status', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_feedback_triage', table_name='feedback')
    op.drop_index('ix_item_scores_rank', table_name='item_scores')
    op.drop_table('item_scores')
    op.drop_table('score_bases')
    op.drop_table('period_members')
    with op.batch_alter_table('weekly_counts') as batch_op:
        batch_op.drop_column('members')
