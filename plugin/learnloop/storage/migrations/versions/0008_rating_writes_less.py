"""A rating writes less: `ratings.previous_stars` lets one upsert set a rating and return the one it
replaced (it was a SELECT, then an INSERT or UPDATE); the event log's unique dedupe keys are indexed
only where there is a key (a rating has none; on SQLite the table is copied to drop the old
constraint); and two indexes no query reads are dropped:
`ix_events_community_time` (the event log is read by id only, by the worker's fold and the
dashboard's unfolded ratings) and `ix_feedback_community_id` (the triage index starts with
community_id and serves every feedback query). Each index cost a page read and a page written to
the WAL per rating or per comment.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ratings') as batch_op:
        batch_op.add_column(sa.Column('previous_stars', sa.Integer(), nullable=True))
    op.drop_index('ix_events_community_time', table_name='events')
    op.drop_index('ix_feedback_community_id', table_name='feedback')
    with op.batch_alter_table('events') as batch_op:
        batch_op.drop_constraint('uq_events_dedupe_key', type_='unique')
    op.create_index('uq_events_dedupe_key', 'events', ['dedupe_key'], unique=True,
                    sqlite_where=sa.text('dedupe_key IS NOT NULL'), postgresql_where=sa.text('dedupe_key IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_events_dedupe_key', table_name='events')
    with op.batch_alter_table('events') as batch_op:
        batch_op.create_unique_constraint('uq_events_dedupe_key', ['dedupe_key'])
    op.create_index('ix_feedback_community_id', 'feedback', ['community_id'], unique=False)
    op.create_index('ix_events_community_time', 'events', ['community_id', 'occurred_at'], unique=False)
    with op.batch_alter_table('ratings') as batch_op:
        batch_op.drop_column('previous_stars')
