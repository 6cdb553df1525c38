"""Disclosure control and exactly-once delivery: release blocks replace the stored period counts (each
dashboard figure is a sum of whole blocks of weeks that cover at least k people; the worker builds them
from the weekly member sets on its next pass), outbox claims name their owner, and one-time links say
what they are for, event prompts name their event, and
page announcements still gathering edits are dropped (they are posted at once now).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('release_blocks',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('first_week', sa.Date(), nullable=False),
    sa.Column('last_week', sa.Date(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_release_blocks_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'metric', 'first_week', name=op.f('pk_release_blocks'))
    )
    op.drop_table('period_members')
    with op.batch_alter_table('weekly_counts') as batch_op:
        batch_op.drop_column('members')
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
    with op.batch_alter_table('signin_links') as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=10), server_default='signin', nullable=False))
        batch_op.create_check_constraint('purpose_known', "purpose IN ('signin', 'mydata')")
    with op.batch_alter_table('prompt_schedules') as batch_op:
        batch_op.add_column(sa.Column('event_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('event_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('event_part', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('event_key', sa.String(length=16), nullable=True))
    # page announcements are posted at once now; one still gathering edits under the old rule is dropped
    op.execute("UPDATE announcements SET status = 'dropped' WHERE status = 'pending'")
    # a shared reflection is listed as such, never by its author
    op.execute("UPDATE content_items SET title = 'A shared reflection' WHERE kind = 'reflection'")


def downgrade() -> None:
    with op.batch_alter_table('prompt_schedules') as batch_op:
        for column in ('event_key', 'event_part', 'event_date', 'event_name'):
            batch_op.drop_column(column)
    with op.batch_alter_table('signin_links') as batch_op:
        batch_op.drop_constraint('purpose_known', type_='check')
        batch_op.drop_column('purpose')
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.drop_column('claimed_by')
    with op.batch_alter_table('weekly_counts') as batch_op:
        batch_op.add_column(sa.Column('members', sa.Integer(), server_default='0', nullable=False))
    op.create_table('period_members',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('first_week', sa.Date(), nullable=False),
    sa.Column('weeks', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_period_members_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'first_week', 'weeks', 'metric', name=op.f('pk_period_members'))
    )
    op.drop_table('release_blocks')
